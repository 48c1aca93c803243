/**
 * decide(): what to do with a message whose attempt just failed. Pure given its random source.
 */
import { ErrorCode, errorCode, isNonRetryableError, isRetryLaterError } from '../errors.js';
import { backoffDelayMs } from './backoff.js';
import { DeadReason, type AttemptFacts, type Decision, type Random, type RetryPolicy } from './types.js';

/** How a failure is treated: permanent errors are dead-lettered at once, transient ones retried. */
export type ErrorClass = 'permanent' | 'transient';

/**
 * 'permanent' when the error is a NonRetryableError (by brand), or when its `name` or its
 * `code` (see errorCode) is listed in policy.nonRetryable; otherwise 'transient'.
 */
export function classifyError(policy: RetryPolicy, error: unknown): ErrorClass {
  if (isNonRetryableError(error)) return 'permanent';
  const name = (error as { name?: unknown } | null | undefined)?.name;
  if (typeof name === 'string' && policy.nonRetryable.includes(name)) return 'permanent';
  const code = errorCode(error);
  if (code !== undefined && policy.nonRetryable.includes(code)) return 'permanent';
  return 'transient';
}

/** Failures meaning "no destination takes this message": dead-lettered as unroutable when attempts run out. */
const UNROUTABLE_CODES: ReadonlySet<string> = new Set([ErrorCode.Unroutable, ErrorCode.DestinationNotFound]);

/**
 * The decision after a failed attempt, checked in this order:
 * 1. a permanent error (classifyError) -> dead, 'permanent-error';
 * 2. facts.attempt >= maxAttempts -> dead, 'unroutable' when the last error's code is
 *    POSTBOX_UNROUTABLE, else 'max-attempts';
 * 3. the delay: a RetryLaterError's delayMs (rounded up to whole ms), else
 *    backoffDelayMs(policy.backoff, facts.attempt, random, facts.previousDelayMs);
 * 4. when maxAgeMs is set and (now - createdAt) + delay > maxAgeMs -> dead, 'max-age';
 * 5. otherwise retry after the delay.
 * Backoff delays are integers within [0, backoff.maxMs]; only a RetryLaterError can exceed maxMs.
 */
export function decide(policy: RetryPolicy, facts: AttemptFacts, random: Random = Math.random): Decision {
  const { error } = facts;
  if (classifyError(policy, error) === 'permanent') return dead(DeadReason.PermanentError);
  if (facts.attempt >= policy.maxAttempts) {
    return dead(UNROUTABLE_CODES.has(errorCode(error) ?? '') ? DeadReason.Unroutable : DeadReason.MaxAttempts);
  }
  const delayMs = isRetryLaterError(error)
    ? Math.ceil(error.delayMs)
    : backoffDelayMs(policy.backoff, facts.attempt, random, facts.previousDelayMs);
  if (policy.maxAgeMs !== undefined) {
    const ageMs = facts.now.getTime() - facts.createdAt.getTime();
    if (ageMs + delayMs > policy.maxAgeMs) return dead(DeadReason.MaxAge);
  }
  return Object.freeze({ action: 'retry', delayMs });
}

function dead(reason: DeadReason): Decision {
  return Object.freeze({ action: 'dead', reason });
}
