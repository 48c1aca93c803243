import { describe, it, expect } from 'vitest';
import { isUuid, uuidv7 } from '../../src/uuid.js';

const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The 48-bit millisecond timestamp at the front of a UUIDv7. */
function timestampOf(id: string): number {
  return parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}

describe('uuidv7', () => {
  it('is a lower-case canonical UUID with version 7 and the RFC 9562 variant', () => {
    for (let i = 0; i < 100; i++) {
      const id = uuidv7();
      expect(id).toMatch(FORMAT);
      expect(isUuid(id)).toBe(true);
    }
  });

  it('puts the given Unix milliseconds in the first 48 bits', () => {
    // A time after any the process used so far, so the counter restarts at it.
    const now = Date.now() + 10 * 365 * 24 * 3600 * 1000;
    const id = uuidv7(now);
    expect(timestampOf(id)).toBe(now);
    expect(timestampOf(id).toString(16).padStart(12, '0')).toBe(now.toString(16).padStart(12, '0'));
  });

  it('stays strictly increasing across many ids generated in the same millisecond', () => {
    const now = Date.now() + 20 * 365 * 24 * 3600 * 1000;
    // More than the 4096 ids the 12-bit counter holds, so the overflow path is taken too.
    const ids = Array.from({ length: 10_000 }, () => uuidv7(now));
    for (let i = 1; i < ids.length; i++) {
      expect(ids[i]! > ids[i - 1]!, `id ${i} (${ids[i]}) is not after ${ids[i - 1]}`).toBe(true);
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(FORMAT);
    expect(timestampOf(ids[0]!)).toBe(now);
  });

  it('stays increasing when the clock goes backwards', () => {
    const now = Date.now() + 30 * 365 * 24 * 3600 * 1000;
    const first = uuidv7(now);
    const second = uuidv7(now - 5_000);
    expect(second > first).toBe(true);
  });

  it('keeps random bits after the counter (two ids never share their tail)', () => {
    const tails = new Set(Array.from({ length: 1000 }, () => uuidv7().slice(19)));
    expect(tails.size).toBe(1000);
  });
});

describe('isUuid', () => {
  it('accepts UUIDs of any version and case and rejects everything else', () => {
    expect(isUuid('123e4567-e89b-12d3-a456-426614174000')).toBe(true);
    expect(isUuid('123E4567-E89B-12D3-A456-426614174000')).toBe(true);
    expect(isUuid('123e4567e89b12d3a456426614174000')).toBe(false);
    expect(isUuid('not-a-uuid')).toBe(false);
    expect(isUuid(42)).toBe(false);
    expect(isUuid(undefined)).toBe(false);
  });
});
