import { toError } from '../errors.js';
import { decide } from '../retry/decide.js';
import type { RetryPolicy } from '../retry/types.js';

/**
 * Direct sending, for facades called outside a transaction with { outsideTransaction: 'send' }:
 * calls send until it succeeds, waiting the policy's backoff between attempts, and throws the
 * last error when the policy gives up (a permanent error at once). No outbox row is written, so
 * a process crash loses the message: this is the opt-out, not the guarantee.
 */
export async function sendWithRetries<T>(
  send: () => Promise<T>,
  policy: RetryPolicy,
  options: { readonly sleep?: (ms: number) => Promise<void>; readonly random?: () => number } = {},
): Promise<T> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const createdAt = new Date();
  let previousDelayMs: number | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (thrown) {
      const error = toError(thrown);
      const decision = decide(policy, { attempt, error, createdAt, now: new Date(), previousDelayMs }, options.random);
      if (decision.action === 'dead') throw error;
      previousDelayMs = decision.delayMs;
      await sleep(decision.delayMs);
    }
  }
}
