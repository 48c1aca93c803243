/**
 * Options of the BullMQ worker and of the postbox processor, their defaults and validation (every
 * problem at once, in one ConfigError naming each field).
 */
import type { WorkerOptions } from 'bullmq';
import type { Handler, Middleware } from '../../src/consumer/types.js';
import { ConfigError, type Problem } from '../../src/errors.js';
import type { RetryPolicies } from '../../src/retry/policy.js';
import type { DeadReason, RetryPoliciesInput } from '../../src/retry/types.js';
import { deadLetterQueueName } from './dead-letters.js';
import { checkKnownFields, checkMiddleware, checkOptional, checkPolicies, isNonEmptyString, isPositiveInteger, isRecord, queueNameProblem, show } from './validation.js';
import { checkConnection, type BullMQWorkerConnection } from './worker-connection.js';

/** What the processor needs; the worker adds the queue and how to run. */
export interface PostboxProcessorOptions {
  /** A redis:// URL or ioredis options (postbox opens and closes its client), or your ioredis client (never closed by postbox). Used for dead letters and the error history. */
  readonly connection: BullMQWorkerConnection;
  readonly handler: Handler;
  /** Applied outermost first: compose(...middleware)(handler). */
  readonly middleware?: readonly Middleware[];
  /** Consumer-side retry policies per postbox topic (maxAttempts, backoff, non-retryable errors). */
  readonly policies?: RetryPoliciesInput;
  /** The inbox dedup scope. Default: the queue name. */
  readonly consumer?: string;
  /** Where dead jobs go. Default `${queue}.dead`. */
  readonly deadLetterQueue?: string;
  /** BullMQ's key prefix, as the queue's. Default BullMQ's ('bull'). */
  readonly prefix?: string;
  /** Observes retries and dead letters. Errors thrown here are ignored. */
  readonly onEvent?: (event: BullMQWorkerEvent) => void;
}

/** bullmq Worker options passed through as they are (lockDuration, stalledInterval, maxStalledCount, limiter, ...). */
export type PassThroughWorkerOptions = Omit<WorkerOptions, 'connection' | 'prefix' | 'concurrency' | 'autorun'>;

export interface BullMQWorkerOptions extends PostboxProcessorOptions {
  /** The queue to work on. */
  readonly queue: string;
  /** Jobs handled at once. Default 10. */
  readonly concurrency?: number;
  /**
   * Passed through to the bullmq Worker. settings.backoffStrategy, when set, handles the backoff
   * types other than 'postbox'. Not here: connection, prefix, concurrency (options of their own)
   * and autorun (start() runs the worker).
   */
  readonly workerOptions?: PassThroughWorkerOptions;
  /** How long start() waits for Redis. Default 10 000. */
  readonly startTimeoutMs?: number;
}

export type BullMQWorkerEvent =
  | { readonly type: 'message:retry-scheduled'; readonly id: string; readonly topic: string; readonly attempt: number; readonly delayMs: number; readonly error: Error }
  | { readonly type: 'message:dead-lettered'; readonly id: string; readonly topic: string; readonly attempt: number; readonly reason: DeadReason; readonly error: Error; readonly deadLetterQueue: string }
  /** The dead letter could not be written: the job waits and runs again (the attempt is not counted). */
  | { readonly type: 'message:dead-letter-failed'; readonly id: string; readonly topic: string; readonly error: Error }
  /** The handler failed while the worker was stopping: the job went back to the queue, the attempt not counted. */
  | { readonly type: 'message:returned'; readonly id: string; readonly topic: string }
  /** A job of a worker that died (or was blocked past lockDuration) was found and put back to run again. */
  | { readonly type: 'job:stalled'; readonly jobId: string }
  | { readonly type: 'consumer:error'; readonly error: Error };

export const BULLMQ_WORKER_DEFAULTS = Object.freeze({
  concurrency: 10,
  startTimeoutMs: 10_000,
});

export interface ResolvedProcessorOptions {
  readonly connection: BullMQWorkerConnection;
  readonly handler: Handler;
  readonly middleware: readonly Middleware[];
  readonly policies: RetryPolicies;
  readonly consumer: string | undefined;
  readonly deadLetterQueue: string | undefined;
  readonly prefix: string | undefined;
  readonly onEvent: ((event: BullMQWorkerEvent) => void) | undefined;
}

export interface ResolvedWorkerOptions extends ResolvedProcessorOptions {
  readonly queue: string;
  readonly consumer: string;
  readonly deadLetterQueue: string;
  readonly concurrency: number;
  readonly workerOptions: PassThroughWorkerOptions;
  readonly startTimeoutMs: number;
}

const PROCESSOR_FIELDS = ['connection', 'handler', 'middleware', 'policies', 'consumer', 'deadLetterQueue', 'prefix', 'onEvent'];
const WORKER_FIELDS = [...PROCESSOR_FIELDS, 'queue', 'concurrency', 'workerOptions', 'startTimeoutMs'];
/** Worker options postbox sets itself (the first three have options of their own). */
const OWN_WORKER_OPTIONS = ['connection', 'prefix', 'concurrency', 'autorun'];
/** Passed-through numbers BullMQ would reject later, checked here so start-up reports them with the rest. */
const POSITIVE_WORKER_NUMBERS = ['lockDuration', 'lockRenewTime', 'stalledInterval', 'drainDelay', 'runRetryDelay'];
const NON_NEGATIVE_WORKER_NUMBERS = ['maxStalledCount', 'maxStartedAttempts'];

export function resolveProcessorOptions(input: unknown): ResolvedProcessorOptions {
  const problems: Problem[] = [];
  const resolved = checkProcessorFields(input, PROCESSOR_FIELDS, problems, false);
  if (problems.length > 0 || resolved === undefined) throw new ConfigError('bullmq processor options', problems);
  return resolved;
}

export function resolveWorkerOptions(input: unknown): ResolvedWorkerOptions {
  const problems: Problem[] = [];
  const base = checkProcessorFields(input, WORKER_FIELDS, problems, true);
  if (base === undefined) throw new ConfigError('bullmq worker options', problems);
  const record = input as Record<string, unknown>;
  const queueOk = checkQueueName(record.queue, 'queue', problems);
  const deadLetterQueue = record.deadLetterQueue ?? (queueOk ? deadLetterQueueName(record.queue as string) : undefined);
  if (queueOk && deadLetterQueue === record.queue) {
    problems.push({ field: 'deadLetterQueue', message: 'must differ from the queue (nothing may consume the dead letters)' });
  }
  checkOptional(record.concurrency, isPositiveInteger, 'must be a whole number > 0', 'concurrency', problems);
  checkOptional(record.startTimeoutMs, isPositiveInteger, 'must be a whole number of milliseconds > 0', 'startTimeoutMs', problems);
  checkWorkerOptions(record.workerOptions, problems);
  if (problems.length > 0) throw new ConfigError('bullmq worker options', problems);
  return Object.freeze({
    ...base,
    queue: record.queue as string,
    consumer: base.consumer ?? (record.queue as string),
    deadLetterQueue: deadLetterQueue as string,
    concurrency: (record.concurrency as number | undefined) ?? BULLMQ_WORKER_DEFAULTS.concurrency,
    workerOptions: (record.workerOptions as PassThroughWorkerOptions | undefined) ?? {},
    startTimeoutMs: (record.startTimeoutMs as number | undefined) ?? BULLMQ_WORKER_DEFAULTS.startTimeoutMs,
  });
}

function checkProcessorFields(input: unknown, fields: readonly string[], problems: Problem[], blocking: boolean): ResolvedProcessorOptions | undefined {
  if (!isRecord(input)) {
    problems.push({ field: 'options', message: `must be an object, got ${show(input)}` });
    return undefined;
  }
  checkKnownFields(input, fields, '', problems);
  checkConnection(input.connection, 'connection', problems, blocking);
  if (typeof input.handler !== 'function') {
    problems.push({ field: 'handler', message: `must be a function (message, context) => Promise<void>, got ${show(input.handler)}` });
  }
  const middleware = checkMiddleware(input.middleware, problems);
  const policies = checkPolicies(input.policies, problems);
  checkOptional(input.consumer, isNonEmptyString, 'must be a non-empty string', 'consumer', problems);
  if (input.deadLetterQueue !== undefined) checkQueueName(input.deadLetterQueue, 'deadLetterQueue', problems);
  checkOptional(input.prefix, isNonEmptyString, 'must be a non-empty string (BullMQ key prefix)', 'prefix', problems);
  checkOptional(input.onEvent, (v) => typeof v === 'function', 'must be a function', 'onEvent', problems);
  return Object.freeze({
    connection: input.connection as BullMQWorkerConnection,
    handler: input.handler as Handler,
    middleware,
    policies: policies as RetryPolicies,
    consumer: input.consumer as string | undefined,
    deadLetterQueue: input.deadLetterQueue as string | undefined,
    prefix: input.prefix as string | undefined,
    onEvent: input.onEvent as ResolvedProcessorOptions['onEvent'],
  });
}

/** A BullMQ queue name (see validation.ts queueNameProblem). */
export function checkQueueName(value: unknown, field: string, problems: Problem[]): boolean {
  const problem = queueNameProblem(value);
  if (problem !== undefined) problems.push({ field, message: problem });
  return problem === undefined;
}

function checkWorkerOptions(value: unknown, problems: Problem[]): void {
  if (value === undefined) return;
  if (!isRecord(value)) {
    problems.push({ field: 'workerOptions', message: `must be an object of bullmq Worker options, got ${show(value)}` });
    return;
  }
  for (const name of OWN_WORKER_OPTIONS) {
    if (value[name] === undefined) continue;
    const instead = name === 'autorun' ? 'start() runs the worker' : `use the option ${name} of createBullMQWorker instead`;
    problems.push({ field: `workerOptions.${name}`, message: `is set by postbox; remove it (${instead})` });
  }
  for (const name of POSITIVE_WORKER_NUMBERS) {
    checkOptional(value[name], isPositiveFinite, 'must be a number of milliseconds > 0', `workerOptions.${name}`, problems);
  }
  for (const name of NON_NEGATIVE_WORKER_NUMBERS) {
    checkOptional(value[name], (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0, 'must be a whole number >= 0', `workerOptions.${name}`, problems);
  }
  const settings = value.settings;
  if (settings !== undefined && !isRecord(settings)) {
    problems.push({ field: 'workerOptions.settings', message: `must be an object, got ${show(settings)}` });
  } else if (settings !== undefined) {
    checkOptional(settings.backoffStrategy, (v) => typeof v === 'function', 'must be a function', 'workerOptions.settings.backoffStrategy', problems);
  }
}

function isPositiveFinite(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

