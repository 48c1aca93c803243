import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { backoffDelayMs, baseDelayMs } from '../../src/retry/backoff.js';
import { Jitter, type Backoff } from '../../src/retry/types.js';

const backoff = (overrides: Partial<Backoff> = {}): Backoff => ({
  initialMs: 1000,
  multiplier: 2,
  maxMs: 300_000,
  jitter: Jitter.None,
  ...overrides,
});

const jitterArb = fc.constantFrom(...Object.values(Jitter));
const backoffArb = fc
  .record({
    initialMs: fc.integer({ min: 0, max: 100_000 }),
    multiplier: fc.double({ min: 1, max: 10, noNaN: true }),
    extraMs: fc.integer({ min: 0, max: 10_000_000 }),
    jitter: jitterArb,
  })
  .map(({ initialMs, multiplier, extraMs, jitter }): Backoff => ({
    initialMs,
    multiplier,
    maxMs: initialMs + extraMs,
    jitter,
  }));
const attemptArb = fc.integer({ min: 1, max: 10_000 });
const randomValueArb = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

describe('baseDelayMs', () => {
  it('starts at initialMs for attempt 1 and grows by the multiplier', () => {
    const b = backoff();
    expect([1, 2, 3, 4].map((n) => baseDelayMs(b, n))).toEqual([1000, 2000, 4000, 8000]);
  });

  it('is capped at maxMs', () => {
    expect(baseDelayMs(backoff({ maxMs: 5000 }), 4)).toBe(5000);
    expect(baseDelayMs(backoff({ maxMs: 5000 }), 100)).toBe(5000);
  });

  it('stays finite for huge attempts and multipliers', () => {
    const b = backoff({ multiplier: 1e6, maxMs: 60_000 });
    for (const attempt of [1e3, 1e9, Number.MAX_SAFE_INTEGER, Infinity]) {
      expect(baseDelayMs(b, attempt)).toBe(60_000);
    }
  });

  it('is constant with multiplier 1, even for an infinite attempt', () => {
    expect(baseDelayMs(backoff({ multiplier: 1 }), 1e9)).toBe(1000);
    expect(baseDelayMs(backoff({ multiplier: 1 }), Infinity)).toBe(1000);
  });

  it('is 0 when initialMs is 0 (no NaN from 0 * Infinity)', () => {
    expect(baseDelayMs(backoff({ initialMs: 0 }), Infinity)).toBe(0);
  });

  it('treats an attempt below 1 or NaN as attempt 1', () => {
    expect(baseDelayMs(backoff(), 0)).toBe(1000);
    expect(baseDelayMs(backoff(), -5)).toBe(1000);
    expect(baseDelayMs(backoff(), Number.NaN)).toBe(1000);
  });

  it('is an integer, non-decreasing in attempt and never above maxMs (property)', () => {
    fc.assert(
      fc.property(backoffArb, attemptArb, attemptArb, (b, x, y) => {
        const [lo, hi] = x <= y ? [x, y] : [y, x];
        const dLo = baseDelayMs(b, lo);
        const dHi = baseDelayMs(b, hi);
        expect(Number.isInteger(dLo)).toBe(true);
        expect(dLo).toBeLessThanOrEqual(dHi);
        expect(dHi).toBeLessThanOrEqual(b.maxMs);
        expect(dLo).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});

describe('backoffDelayMs', () => {
  it('with jitter none returns the base delay', () => {
    expect(backoffDelayMs(backoff(), 3, () => 0.7)).toBe(4000);
  });

  it('with full jitter scales the base delay by the random draw', () => {
    const b = backoff({ jitter: Jitter.Full });
    expect(backoffDelayMs(b, 3, () => 0)).toBe(0);
    expect(backoffDelayMs(b, 3, () => 0.5)).toBe(2000);
    expect(backoffDelayMs(b, 3, () => 0.99999)).toBe(3999);
  });

  it('with equal jitter keeps at least half the base delay', () => {
    const b = backoff({ jitter: Jitter.Equal });
    expect(backoffDelayMs(b, 3, () => 0)).toBe(2000);
    expect(backoffDelayMs(b, 3, () => 0.5)).toBe(3000);
  });

  it('with decorrelated jitter draws between initialMs and three times the previous delay', () => {
    const b = backoff({ jitter: Jitter.Decorrelated });
    expect(backoffDelayMs(b, 5, () => 0, 10_000)).toBe(1000);
    expect(backoffDelayMs(b, 5, () => 0.5, 10_000)).toBe(1000 + 0.5 * (30_000 - 1000));
    expect(backoffDelayMs(b, 1, () => 0.5)).toBe(1000 + 0.5 * (3000 - 1000));
    expect(backoffDelayMs(b, 1, () => 0.999, 1e12)).toBe(300_000);
  });

  it('with decorrelated jitter ignores a non-finite previous delay', () => {
    const b = backoff({ jitter: Jitter.Decorrelated });
    expect(backoffDelayMs(b, 2, () => 0.5, Number.NaN)).toBe(2000);
    expect(backoffDelayMs(b, 2, () => 0.5, Infinity)).toBe(2000);
  });

  it('keeps within bounds when the random source misbehaves', () => {
    const b = backoff({ jitter: Jitter.Full, maxMs: 5000 });
    expect(backoffDelayMs(b, 9, () => 7)).toBe(5000);
    expect(backoffDelayMs(b, 9, () => -1)).toBe(0);
    expect(backoffDelayMs(b, 9, () => Number.NaN)).toBe(0);
  });

  it('uses Math.random when no random source is given', () => {
    const delay = backoffDelayMs(backoff({ jitter: Jitter.Full }), 2);
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThanOrEqual(2000);
  });

  it('is always an integer within [0, maxMs] for every jitter and attempt (property)', () => {
    fc.assert(
      fc.property(
        backoffArb,
        attemptArb,
        randomValueArb,
        fc.option(fc.integer({ min: 0, max: 1e9 }), { nil: undefined }),
        (b, attempt, r, previous) => {
          const delay = backoffDelayMs(b, attempt, () => r, previous);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(b.maxMs);
        },
      ),
    );
  });

  it('full jitter is within [0, base], equal within [floor(base/2), base], none equals base (property)', () => {
    fc.assert(
      fc.property(backoffArb, attemptArb, randomValueArb, (b, attempt, r) => {
        const base = baseDelayMs(b, attempt);
        const full = backoffDelayMs({ ...b, jitter: Jitter.Full }, attempt, () => r);
        const equal = backoffDelayMs({ ...b, jitter: Jitter.Equal }, attempt, () => r);
        const none = backoffDelayMs({ ...b, jitter: Jitter.None }, attempt, () => r);
        expect(full).toBeGreaterThanOrEqual(0);
        expect(full).toBeLessThanOrEqual(base);
        expect(equal).toBeGreaterThanOrEqual(Math.floor(base / 2));
        expect(equal).toBeLessThanOrEqual(base);
        expect(none).toBe(base);
      }),
    );
  });

  it('decorrelated jitter is within [initialMs, maxMs] (property)', () => {
    fc.assert(
      fc.property(
        backoffArb,
        attemptArb,
        randomValueArb,
        fc.option(fc.integer({ min: 0, max: 1e9 }), { nil: undefined }),
        (b, attempt, r, previous) => {
          const delay = backoffDelayMs({ ...b, jitter: Jitter.Decorrelated }, attempt, () => r, previous);
          expect(delay).toBeGreaterThanOrEqual(Math.min(b.initialMs, b.maxMs));
          expect(delay).toBeLessThanOrEqual(b.maxMs);
        },
      ),
    );
  });
});
