import { describe, it, expect } from 'vitest';
import { splitIntoWaves } from '../../src/relay/waves.js';
import type { ClaimedMessage } from '../../src/relay/store.js';

let seq = 0;
function claimed(topic: string, key: string | null, label: string): ClaimedMessage {
  seq++;
  return {
    seq: String(seq),
    id: label,
    topic,
    key,
    payload: Buffer.from(label),
    contentType: 'text/plain',
    headers: {},
    correlationId: null,
    replyTo: null,
    attempt: 1,
    createdAt: new Date(0),
    previousDelayMs: null,
  };
}

const allOrdered = () => true;
const labels = (waves: ClaimedMessage[][]) => waves.map((wave) => wave.map((m) => m.id));

describe('splitIntoWaves', () => {
  it('puts the i-th message of each key in wave i, keeping batch order within a wave', () => {
    const batch = [
      claimed('t', 'a', 'a1'),
      claimed('t', 'b', 'b1'),
      claimed('t', 'a', 'a2'),
      claimed('t', 'a', 'a3'),
      claimed('t', 'b', 'b2'),
      claimed('t', 'c', 'c1'),
    ];
    expect(labels(splitIntoWaves(batch, allOrdered))).toEqual([['a1', 'b1', 'c1'], ['a2', 'b2'], ['a3']]);
  });

  it('never puts two messages of one key in the same wave, and keeps each key in order across waves', () => {
    const keys = ['a', 'b', 'c', 'd'];
    const batch = Array.from({ length: 40 }, (_, i) => claimed('t', keys[(i * 7) % 4]!, `m${i}`));
    const waves = splitIntoWaves(batch, allOrdered);
    const position = new Map<string, number>();
    waves.forEach((wave, w) => {
      const seen = new Set<string | null>();
      for (const m of wave) {
        expect(seen.has(m.key)).toBe(false);
        seen.add(m.key);
        position.set(m.id, w);
      }
    });
    for (const key of keys) {
      const ofKey = batch.filter((m) => m.key === key).map((m) => position.get(m.id)!);
      expect(ofKey).toEqual([...ofKey].sort((x, y) => x - y));
      expect(new Set(ofKey).size).toBe(ofKey.length);
    }
    expect(waves.flat()).toHaveLength(batch.length);
  });

  it('puts unkeyed messages and messages of unordered topics in the first wave', () => {
    const batch = [
      claimed('t', 'a', 'a1'),
      claimed('t', 'a', 'a2'),
      claimed('metrics.cpu', 'a', 'm1'),
      claimed('metrics.cpu', 'a', 'm2'),
      claimed('t', null, 'n1'),
      claimed('t', null, 'n2'),
      claimed('t', 'a', 'a3'),
    ];
    const isOrdered = (topic: string) => !topic.startsWith('metrics.');
    expect(labels(splitIntoWaves(batch, isOrdered))).toEqual([['a1', 'm1', 'm2', 'n1', 'n2'], ['a2'], ['a3']]);
  });

  it('returns one empty wave for an empty batch', () => {
    expect(splitIntoWaves([], allOrdered)).toEqual([[]]);
  });
});
