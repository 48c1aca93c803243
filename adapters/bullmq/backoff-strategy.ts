/**
 * The 'postbox' backoff strategy of BullMQ, and the error the processor throws for a failed
 * attempt that BullMQ is to retry.
 *
 * BullMQ calls a worker's `settings.backoffStrategy` for every job whose backoff type is not
 * built in ('fixed', 'exponential'), with the number of the attempt that just failed
 * (attemptsMade + 1), the type, the thrown error and the job. A delay of -1 means "do not retry"
 * (the job fails). The postbox processor has already decided the delay with the topic's policy
 * (capped and jittered, a RetryLaterError's own delay first) and carries it on its error; the
 * strategy returns it. For jobs processed by someone else's processor it decides itself.
 */
import { redactText } from '../../src/redact.js';
import type { BackoffStrategy, MinimalJob } from 'bullmq';
import { decide } from '../../src/retry/decide.js';
import { compileRetryPolicies, type RetryPolicies } from '../../src/retry/policy.js';
import type { RetryPoliciesInput } from '../../src/retry/types.js';
import { POSTBOX_BACKOFF_TYPE } from './backoff-type.js';
import { isPostboxJobData } from './wire.js';

const RETRY_BRAND = Symbol.for('postbox.bullmq.retry');
/** Bounded like the error history: a pathological message must not blow up the job hash. */
const MAX_MESSAGE = 2_000;

/**
 * Thrown by the postbox processor when the handler failed and the job has attempts left: BullMQ
 * records the failure (failedReason is the handler's `Name: message`) and retries after delayMs.
 */
export class PostboxRetryError extends Error {
  readonly [RETRY_BRAND] = true;
  readonly delayMs: number;

  constructor(cause: Error, delayMs: number) {
    // Redacted: BullMQ stores this message (failedReason) and the stack in Redis.
    super(redactText(`${cause.name}: ${cause.message}`).slice(0, MAX_MESSAGE), { cause });
    this.name = 'PostboxRetryError';
    this.delayMs = delayMs;
    if (cause.stack !== undefined) this.stack = redactText(cause.stack);
  }
}

export function isPostboxRetryError(value: unknown): value is PostboxRetryError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RETRY_BRAND] === true;
}

export interface PostboxBackoffOptions {
  /** Called for jobs whose backoff type is not 'postbox' (e.g. your own strategies). Default: the postbox policy applies to them too. */
  readonly fallback?: BackoffStrategy;
  /** The random source of the jitter (tests). */
  readonly random?: () => number;
}

/**
 * A BullMQ `settings.backoffStrategy` for jobs with `backoff: { type: 'postbox' }` (the BullMQ
 * transport sets it): the delay the postbox processor decided, or, for a job handled by another
 * processor, the topic policy's decision for the attempt (-1, no retry, when the policy gives up:
 * a NonRetryableError or a name listed in nonRetryable, maxAttempts or maxAgeMs reached).
 * The topic is the envelope's, else the job name. `policies` is validated here (ConfigError).
 */
export function postboxBackoffStrategy(
  policies?: RetryPoliciesInput | RetryPolicies,
  options: PostboxBackoffOptions = {},
): BackoffStrategy {
  const compiled = isCompiled(policies) ? policies : compileRetryPolicies(policies);
  const random = options.random ?? Math.random;
  return (attemptsMade, type, error, job) => {
    if (isPostboxRetryError(error)) return error.delayMs;
    if (type !== POSTBOX_BACKOFF_TYPE && options.fallback !== undefined) return options.fallback(attemptsMade, type, error, job);
    const now = new Date();
    const decision = decide(
      compiled.forTopic(topicOf(job)),
      {
        attempt: attemptsMade,
        error: error ?? new Error('unknown failure'),
        createdAt: job?.timestamp !== undefined ? new Date(job.timestamp) : now,
        now,
      },
      random,
    );
    return decision.action === 'retry' ? decision.delayMs : -1;
  };
}

function topicOf(job: MinimalJob | undefined): string {
  if (job === undefined) return '';
  return isPostboxJobData(job.data) ? job.data.topic : job.name;
}

function isCompiled(value: unknown): value is RetryPolicies {
  return typeof value === 'object' && value !== null && typeof (value as { forTopic?: unknown }).forTopic === 'function';
}
