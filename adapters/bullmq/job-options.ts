/**
 * The BullMQ job options postbox sets on every job, and validation of the options a route may add.
 *
 * Every job gets:
 * - jobId = the message id: adding a job whose id already exists in the queue is a no-op, so a
 *   re-publish after a relay crash or a lost acknowledgement does not create a second job. This
 *   holds only while the job is retained: once BullMQ removed a finished job, the same id makes a
 *   new job. Hence:
 * - removeOnComplete / removeOnFail by age (default 7 days, the inbox's default retention), never
 *   `true` and never by count: retention must be at least as long as the relay may publish the
 *   same message again (its retry policy's span);
 * - attempts = the topic policy's maxAttempts and backoff { type: POSTBOX_BACKOFF_TYPE }: the
 *   worker middleware registers that backoff strategy and applies the topic's retry policy.
 *
 * A route's jobOptions override these (except jobId), within the rules checked here.
 */
import type { JobsOptions } from 'bullmq';
import { baseDelayMs } from '../../src/retry/backoff.js';
import { Jitter, type RetryPolicy } from '../../src/retry/types.js';
import { POSTBOX_BACKOFF_TYPE } from './backoff-type.js';
import { checkKnownFields, checkOptional, isNonNegativeInteger, isPositiveInteger, isRecord, show, type Problems } from './validation.js';

/** Keep finished jobs this long (ms; BullMQ counts whole seconds, so it is rounded up to one). */
export interface RetainOptions {
  /** Completed jobs. Default 7 days. */
  readonly completedMs?: number;
  /** Failed jobs (attempts exhausted; the worker middleware also copies them to a dead-letter queue). Default 7 days. */
  readonly failedMs?: number;
}

/** Keep finished jobs: false (forever) or by age in seconds; `limit` caps removals per cleanup. */
export type RetainJobs = false | { readonly age: number; readonly limit?: number };

/** The job options a route may set. */
export interface BullMQJobOptions {
  readonly priority?: number;
  readonly delay?: number;
  readonly lifo?: boolean;
  /** Overrides the topic policy's maxAttempts. */
  readonly attempts?: number;
  /** Overrides { type: 'postbox' } (a worker without the postbox middleware needs 'fixed' or 'exponential'). */
  readonly backoff?: number | { readonly type: string; readonly delay?: number; readonly jitter?: number };
  readonly removeOnComplete?: RetainJobs;
  readonly removeOnFail?: RetainJobs;
  readonly keepLogs?: number;
  readonly stackTraceLimit?: number;
  readonly sizeLimit?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_RETAIN_MS = 7 * DAY_MS;

const ALLOWED = ['priority', 'delay', 'lifo', 'attempts', 'backoff', 'removeOnComplete', 'removeOnFail', 'keepLogs', 'stackTraceLimit', 'sizeLimit'];
/** BullMQ job options a route may not set, and why. */
const REFUSED: Readonly<Record<string, string>> = {
  jobId: 'the job id is always the message id (that is what makes a re-publish a no-op); remove it',
  deduplication: 'deduplication by another id could drop distinct messages silently; postbox deduplicates by jobId = message id',
  debounce: 'removed from BullMQ, and it would drop messages; remove it',
  repeat: 'a message is one job; use a job scheduler outside postbox for repeating jobs',
  parent: 'flows are not supported by the transport',
  timestamp: 'set by BullMQ when the job is added',
  prevMillis: 'internal to BullMQ repeatable jobs',
  repeatJobKey: 'internal to BullMQ repeatable jobs',
  failParentOnFailure: 'flows are not supported by the transport',
  continueParentOnFailure: 'flows are not supported by the transport',
  ignoreDependencyOnFailure: 'flows are not supported by the transport',
  removeDependencyOnFailure: 'flows are not supported by the transport',
};
const PRIORITY_LIMIT = 2 ** 21;

export function checkJobOptions(input: unknown, path: string, problems: Problems): BullMQJobOptions | undefined {
  if (input === undefined) return undefined;
  if (!isRecord(input)) {
    problems.push({ field: path, message: `must be an object of BullMQ job options (e.g. { priority: 1 }), got ${show(input)}` });
    return undefined;
  }
  for (const [name, why] of Object.entries(REFUSED)) {
    if (input[name] !== undefined) problems.push({ field: `${path}.${name}`, message: `cannot be set in a postbox route: ${why}` });
  }
  checkKnownFields(
    Object.fromEntries(Object.entries(input).filter(([name]) => !(name in REFUSED))),
    ALLOWED,
    path,
    problems,
  );
  const isPriority = (v: unknown): boolean => isNonNegativeInteger(v) && v <= PRIORITY_LIMIT;
  checkOptional(input.priority, isPriority, `must be a whole number from 0 to ${PRIORITY_LIMIT}`, `${path}.priority`, problems);
  checkOptional(input.delay, isNonNegativeInteger, 'must be a whole number of milliseconds >= 0', `${path}.delay`, problems);
  checkOptional(input.lifo, (v) => typeof v === 'boolean', 'must be true or false', `${path}.lifo`, problems);
  checkOptional(input.attempts, isPositiveInteger, 'must be a whole number >= 1', `${path}.attempts`, problems);
  checkBackoff(input.backoff, `${path}.backoff`, problems);
  checkRetainJobs(input.removeOnComplete, `${path}.removeOnComplete`, problems);
  checkRetainJobs(input.removeOnFail, `${path}.removeOnFail`, problems);
  for (const name of ['keepLogs', 'stackTraceLimit'] as const) {
    checkOptional(input[name], isNonNegativeInteger, 'must be a whole number >= 0', `${path}.${name}`, problems);
  }
  checkOptional(input.sizeLimit, isPositiveInteger, 'must be a whole number of bytes > 0', `${path}.sizeLimit`, problems);
  return Object.freeze({ ...input }) as BullMQJobOptions;
}

function checkBackoff(input: unknown, field: string, problems: Problems): void {
  if (input === undefined || isNonNegativeInteger(input)) return;
  if (!isRecord(input)) {
    problems.push({ field, message: `must be a delay in ms or { type, delay?, jitter? }, got ${show(input)}` });
    return;
  }
  checkKnownFields(input, ['type', 'delay', 'jitter'], field, problems);
  checkOptional(input.type, (v) => typeof v === 'string' && v.length > 0, "must name a backoff strategy ('postbox', 'fixed', 'exponential' or a custom one)", `${field}.type`, problems);
  if (input.type === undefined) problems.push({ field: `${field}.type`, message: "is required ('postbox', 'fixed', 'exponential' or a custom one)" });
  checkOptional(input.delay, isNonNegativeInteger, 'must be a whole number of milliseconds >= 0', `${field}.delay`, problems);
  checkOptional(input.jitter, (v) => typeof v === 'number' && v >= 0 && v <= 1, 'must be a number from 0 to 1', `${field}.jitter`, problems);
}

function checkRetainJobs(input: unknown, field: string, problems: Problems): void {
  if (input === undefined || input === false) return;
  const why = 'a finished job must stay in Redis for as long as the relay may publish its message again, or a re-publish makes a second job';
  if (input === true) {
    problems.push({ field, message: `must not be true (remove at once): ${why}. Use { age: seconds } (at least the retry policy's span) or false to keep jobs` });
    return;
  }
  if (typeof input === 'number') {
    problems.push({ field, message: `must not be a count (${input}): retention by count depends on traffic, not time, and ${why}. Use { age: seconds }` });
    return;
  }
  if (!isRecord(input)) {
    problems.push({ field, message: `must be false or { age: seconds, limit? }, got ${show(input)}` });
    return;
  }
  checkKnownFields(input, ['age', 'limit', 'count'], field, problems);
  if (input.count !== undefined) problems.push({ field: `${field}.count`, message: `must not be set: retention by count depends on traffic, not time, and ${why}` });
  if (!isPositiveInteger(input.age)) problems.push({ field: `${field}.age`, message: `must be a whole number of seconds > 0 (${why}), got ${show(input.age)}` });
  checkOptional(input.limit, isPositiveInteger, 'must be a whole number > 0', `${field}.limit`, problems);
}

/** ms -> BullMQ's whole seconds, rounded up. */
export function ageSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/**
 * The longest time after a first publish in which the relay may publish the same message again
 * because of failed or unconfirmed attempts: each retry's longest possible delay (decorrelated
 * jitter may triple the previous delay, up to maxMs; the other kinds only shorten the base delay)
 * plus a publish timeout per attempt, or the policy's maxAgeMs when that is shorter. Time the
 * broker was unreachable (attempts are not counted then) and lease expiries after a relay crash
 * come on top: a retention with room to spare covers them.
 */
export function republishSpanMs(policy: RetryPolicy, publishTimeoutMs: number): number {
  let total = publishTimeoutMs;
  let previous = 0;
  for (let attempt = 1; attempt < policy.maxAttempts && total < Number.MAX_SAFE_INTEGER; attempt++) {
    const delay =
      policy.backoff.jitter === Jitter.Decorrelated
        ? Math.min(policy.backoff.maxMs, Math.max(policy.backoff.initialMs, previous * 3))
        : baseDelayMs(policy.backoff, attempt);
    previous = delay;
    total += delay + publishTimeoutMs;
  }
  return policy.maxAgeMs === undefined ? total : Math.min(total, policy.maxAgeMs);
}

/** The options every job of a topic gets (the message id is added per job). */
export function jobOptionsFor(policy: RetryPolicy, retain: Required<RetainOptions>, route: BullMQJobOptions | undefined): JobsOptions {
  return Object.freeze({
    attempts: policy.maxAttempts,
    backoff: { type: POSTBOX_BACKOFF_TYPE },
    removeOnComplete: { age: ageSeconds(retain.completedMs) },
    removeOnFail: { age: ageSeconds(retain.failedMs) },
    ...(route as JobsOptions | undefined),
  });
}
