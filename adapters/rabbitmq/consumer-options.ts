/**
 * Options of the RabbitMQ consumer, their defaults and validation (every problem at once).
 */
import type { Handler, Middleware } from '../../src/consumer/types.js';
import { ConfigError } from '../../src/errors.js';
import type { RetryPolicies } from '../../src/retry/policy.js';
import type { DeadReason, RetryPoliciesInput } from '../../src/retry/types.js';
import type { RabbitMQConnection } from './connection.js';
import { isConnection } from './options.js';
import { tierQueueName } from './copies.js';
import { checkUrl, type RabbitMQUrl } from './url.js';
import { checkKnownFields, checkMiddleware, checkName, checkOptional, checkPolicies, isRecord, show, type Problems } from './validation.js';

export interface RabbitMQConsumerOptions {
  /** A shared connection (not closed by stop()). Exactly one of connection and url. */
  readonly connection?: RabbitMQConnection;
  /** Or a broker URL: the consumer opens and closes its own connection. */
  readonly url?: RabbitMQUrl;
  /** The queue to consume; it must exist (declare it in the connection's topology). */
  readonly queue: string;
  /** The consumer's name, the inbox dedup scope. Default: the queue name. */
  readonly consumer?: string;
  readonly handler: Handler;
  /** Applied outermost first: compose(...middleware)(handler). */
  readonly middleware?: readonly Middleware[];
  /** Consumer-side retry policies per topic (maxAttempts, backoff, non-retryable errors). */
  readonly policies?: RetryPoliciesInput;
  /** Unacknowledged deliveries in flight at once. Default 20. */
  readonly prefetch?: number;
  readonly retry?: {
    /** Delays available for redelivery, one TTL queue each. Default 1 s, 5 s, 30 s, 2 min, 10 min, 1 h. */
    readonly tiersMs?: readonly number[];
  };
  /** Where dead deliveries go. Default `${queue}.dead`. */
  readonly deadLetterQueue?: string;
  /** Observes what the consumer does (retries, dead letters, lost channels). Errors thrown here are ignored. */
  readonly onEvent?: (event: RabbitMQConsumerEvent) => void;
}

export type RabbitMQConsumerEvent =
  | { readonly type: 'message:retry-scheduled'; readonly id: string; readonly topic: string; readonly attempt: number; readonly delayMs: number; readonly tierMs: number; readonly error: Error }
  | { readonly type: 'message:dead-lettered'; readonly id: string; readonly topic: string; readonly attempt: number; readonly reason: DeadReason; readonly error: Error }
  | { readonly type: 'message:republish-failed'; readonly id: string; readonly topic: string; readonly error: Error }
  | { readonly type: 'consumer:channel-lost'; readonly error: Error | undefined }
  | { readonly type: 'consumer:resumed' }
  | { readonly type: 'consumer:resume-failed'; readonly error: Error }
  | { readonly type: 'consumer:error'; readonly error: Error };

export const DEFAULT_RETRY_TIERS_MS: readonly number[] = Object.freeze([1_000, 5_000, 30_000, 120_000, 600_000, 3_600_000]);
export const DEFAULT_PREFETCH = 20;
/** RabbitMQ's x-message-ttl is an unsigned 32-bit number of milliseconds. */
const MAX_TTL_MS = 2 ** 32 - 1;

export interface ResolvedConsumerOptions {
  readonly connection: RabbitMQConnection | undefined;
  readonly url: RabbitMQUrl | undefined;
  readonly queue: string;
  readonly consumer: string;
  readonly handler: Handler;
  readonly middleware: readonly Middleware[];
  readonly policies: RetryPolicies;
  readonly prefetch: number;
  /** Ascending, distinct. */
  readonly tiersMs: readonly number[];
  readonly deadLetterQueue: string;
  readonly onEvent: ((event: RabbitMQConsumerEvent) => void) | undefined;
}

const FIELDS = ['connection', 'url', 'queue', 'consumer', 'handler', 'middleware', 'policies', 'prefetch', 'retry', 'deadLetterQueue', 'onEvent'];

export function resolveConsumerOptions(input: unknown): ResolvedConsumerOptions {
  if (!isRecord(input)) {
    throw new ConfigError('rabbitmq consumer options', [{ field: 'options', message: `must be an object, got ${show(input)}` }]);
  }
  const problems: Problems = [];
  checkKnownFields(input, FIELDS, '', problems);
  checkSource(input, problems);
  const queueOk = checkName(input.queue, 'queue', 'queue', problems);
  const queue = String(input.queue);
  checkOptional(input.consumer, (v) => typeof v === 'string' && v.length > 0, 'must be a non-empty string', 'consumer', problems);
  if (typeof input.handler !== 'function') {
    problems.push({ field: 'handler', message: `must be a function (message, context) => Promise<void>, got ${show(input.handler)}` });
  }
  const middleware = checkMiddleware(input.middleware, problems);
  const policies = checkPolicies(input.policies, problems);
  const isPrefetch = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65_535;
  checkOptional(input.prefetch, isPrefetch, 'must be an integer from 1 to 65535', 'prefetch', problems);
  const tiersMs = checkTiers(input.retry, problems);
  const deadLetterQueue = input.deadLetterQueue === undefined ? `${queue}.dead` : input.deadLetterQueue;
  if (checkName(deadLetterQueue, 'dead-letter queue', 'deadLetterQueue', problems) && queueOk) {
    if (deadLetterQueue === queue || tiersMs.some((t) => tierQueueName(queue, t) === deadLetterQueue)) {
      problems.push({ field: 'deadLetterQueue', message: 'must differ from the queue and its retry queues' });
    }
  }
  if (queueOk) {
    for (const tier of tiersMs) checkName(tierQueueName(queue, tier), 'retry queue', `retry.tiersMs (queue ${tier})`, problems);
  }
  checkOptional(input.onEvent, (v) => typeof v === 'function', 'must be a function', 'onEvent', problems);
  if (problems.length > 0) throw new ConfigError('rabbitmq consumer options', problems);
  return Object.freeze({
    connection: input.connection as RabbitMQConnection | undefined,
    url: input.url as RabbitMQUrl | undefined,
    queue,
    consumer: (input.consumer as string | undefined) ?? queue,
    handler: input.handler as Handler,
    middleware,
    policies: policies as RetryPolicies,
    prefetch: (input.prefetch as number | undefined) ?? DEFAULT_PREFETCH,
    tiersMs,
    deadLetterQueue: deadLetterQueue as string,
    onEvent: input.onEvent as ResolvedConsumerOptions['onEvent'],
  });
}

/** Exactly one of connection and url. */
export function checkSource(input: Record<string, unknown>, problems: Problems): void {
  if (input.connection !== undefined && input.url !== undefined) {
    problems.push({ field: 'url', message: 'set either connection or url, not both' });
  } else if (input.connection !== undefined) {
    if (!isConnection(input.connection)) {
      problems.push({ field: 'connection', message: 'must be a connection made by createRabbitMQConnection()' });
    }
  } else if (input.url !== undefined) {
    checkUrl(input.url, 'url', problems);
  } else {
    problems.push({ field: 'connection', message: 'is required (or url): the RabbitMQ connection to consume from' });
  }
}



function checkTiers(input: unknown, problems: Problems): readonly number[] {
  if (input === undefined) return DEFAULT_RETRY_TIERS_MS;
  if (!isRecord(input)) {
    problems.push({ field: 'retry', message: `must be an object { tiersMs? }, got ${show(input)}` });
    return DEFAULT_RETRY_TIERS_MS;
  }
  checkKnownFields(input, ['tiersMs'], 'retry', problems);
  const tiers = input.tiersMs;
  if (tiers === undefined) return DEFAULT_RETRY_TIERS_MS;
  if (!Array.isArray(tiers) || tiers.length === 0) {
    problems.push({ field: 'retry.tiersMs', message: `must be a non-empty array of delays in milliseconds, e.g. [1000, 30000], got ${show(tiers)}` });
    return DEFAULT_RETRY_TIERS_MS;
  }
  const valid: number[] = [];
  tiers.forEach((tier: unknown, i) => {
    const isTier = typeof tier === 'number' && Number.isInteger(tier) && tier >= 1 && tier <= MAX_TTL_MS;
    if (!isTier) problems.push({ field: `retry.tiersMs[${i}]`, message: `must be a whole number of milliseconds from 1 to ${MAX_TTL_MS}, got ${show(tier)}` });
    else if (valid.includes(tier)) problems.push({ field: `retry.tiersMs[${i}]`, message: `repeats ${tier}; list each delay once` });
    else valid.push(tier);
  });
  return Object.freeze(valid.sort((a, b) => a - b));
}

