import { PostboxError } from '../../src/errors.js';
import type { OutboxMessage } from '../../src/message.js';
import { failed, type PublishResult, type Transport } from '../../src/transport.js';

/** A seeded PRNG (mulberry32), so a failing run can be replayed with the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FaultOptions {
  /** Probability that a message fails before it is sent (the broker never sees it). */
  readonly failBeforeSend: number;
  /** Probability that a message is sent, then reported failed (a lost confirm: the broker has it). */
  readonly failAfterSend: number;
  readonly seed: number;
}

/**
 * Wraps a real transport and injects transient failures around it: the relay sees failures,
 * the broker sees exactly what was really sent. Failures after sending produce the duplicates
 * at-least-once delivery allows.
 */
export function withInjectedFaults(inner: Transport, options: FaultOptions): Transport & { injected: { before: number; after: number } } {
  const random = seededRandom(options.seed);
  const injected = { before: 0, after: 0 };
  return {
    name: inner.name,
    injected,
    async publish(batch, publishOptions) {
      const plan = batch.map(() => {
        const r = random();
        return r < options.failBeforeSend ? 'before' : r < options.failBeforeSend + options.failAfterSend ? 'after' : 'send';
      });
      const toSend = batch.filter((_, i) => plan[i] !== 'before');
      const sent = toSend.length === 0 ? [] : await inner.publish(toSend, publishOptions);
      let next = 0;
      return batch.map((message: OutboxMessage, i): PublishResult => {
        if (plan[i] === 'before') {
          injected.before++;
          return failed(new PostboxError('INJECTED', `injected failure before sending ${message.id}`));
        }
        const result = sent[next++] as PublishResult;
        if (plan[i] === 'after' && result.ok) {
          injected.after++;
          return failed(new PostboxError('INJECTED', `injected failure after sending ${message.id}`));
        }
        return result;
      });
    },
    close: () => inner.close(),
  };
}
