/**
 * Options of the Kafka consumer, their defaults and validation (every problem at once).
 *
 * `topics` are Kafka topic names (what the group subscribes to); `modes` are keyed by Kafka topic
 * patterns; `policies` are keyed by postbox topic patterns (the postbox-topic header, else the
 * Kafka topic), as for every postbox consumer.
 */
import type { Handler, Middleware } from '../../src/consumer/types.js';
import { ConfigError } from '../../src/errors.js';
import type { RetryPolicies } from '../../src/retry/policy.js';
import type { DeadReason, RetryPoliciesInput } from '../../src/retry/types.js';
import { duplicatePatterns, patternProblem } from '../../src/topic.js';
import { BROKER_FIELDS, checkClientSource, type ClientSource, type KafkaBrokerOptions, type KafkaClientOption } from './connection.js';
import { deadLetterTopicName, retryTopicName } from './copies.js';
import { checkKafkaTopic, checkKnownFields, checkMiddleware, checkOptional, checkPolicies, isBoolean, isFunction, isNonEmptyString, isPositiveInteger, isRecord, show, type Problems } from './validation.js';

/** How a topic's failed deliveries are retried. */
export const ConsumerMode = {
  /** Retry in place: the partition pauses for the backoff, then the same record is handled again. Strict order. */
  Blocking: 'blocking',
  /** Copy to `${topic}.retry` (handled when due) and go on with the next record. Failed records lose their order. */
  RetryTopics: 'retry-topics',
} as const;
export type ConsumerMode = (typeof ConsumerMode)[keyof typeof ConsumerMode];

export interface KafkaConsumerOptions extends KafkaBrokerOptions, KafkaClientOption {
  /** The consumer group. */
  readonly groupId: string;
  /** Kafka topics to consume; they must exist. */
  readonly topics: readonly string[];
  /** The inbox dedup scope. Default: groupId. */
  readonly consumer?: string;
  readonly handler: Handler;
  /** Applied outermost first: compose(...middleware)(handler). */
  readonly middleware?: readonly Middleware[];
  /** Retry policies per postbox topic pattern (maxAttempts, backoff, non-retryable errors). */
  readonly policies?: RetryPoliciesInput;
  /** Kafka topic pattern -> mode; the most specific pattern wins. Default 'retry-topics'. */
  readonly modes?: Readonly<Record<string, ConsumerMode>>;
  /** Where a group without committed offsets starts: the earliest record (true) or only new ones. Default true. */
  readonly fromBeginning?: boolean;
  /** Create missing retry and dead-letter topics at start (partitions and replicas as the source topic). Default true. */
  readonly createTopics?: boolean;
  /** The group session timeout (the broker's group.min.session.timeout.ms, 6 s by default, is the floor). Default 30 000. */
  readonly sessionTimeoutMs?: number;
  /** Default 3 000; must be below sessionTimeoutMs. */
  readonly heartbeatIntervalMs?: number;
  /** Longest wait of a fetch, and of a resume after a pause when every partition was paused. Default 1 000. */
  readonly maxWaitTimeMs?: number;
  /** Partitions handled at once (records of one partition are always handled one after another). Default 1. */
  readonly partitionsConsumedConcurrently?: number;
  /** Bound on writing one retry or dead-letter copy (acks = all). Default 10 000. */
  readonly publishTimeoutMs?: number;
  /** Observes what the consumer does. Errors thrown here are ignored. */
  readonly onEvent?: (event: KafkaConsumerEvent) => void;
}

export type KafkaConsumerEvent =
  | { readonly type: 'message:retry-scheduled'; readonly id: string; readonly topic: string; readonly attempt: number; readonly delayMs: number; readonly mode: ConsumerMode; readonly error: Error }
  | { readonly type: 'message:dead-lettered'; readonly id: string; readonly topic: string; readonly attempt: number; readonly reason: DeadReason; readonly error: Error }
  | { readonly type: 'message:republish-failed'; readonly id: string; readonly topic: string; readonly error: Error }
  | { readonly type: 'consumer:crashed'; readonly error: Error; readonly restart: boolean }
  | { readonly type: 'consumer:error'; readonly error: Error };

export const KAFKA_CONSUMER_DEFAULTS = Object.freeze({
  mode: ConsumerMode.RetryTopics as ConsumerMode,
  fromBeginning: true,
  createTopics: true,
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3_000,
  maxWaitTimeMs: 1_000,
  partitionsConsumedConcurrently: 1,
  publishTimeoutMs: 10_000,
});

export interface ResolvedConsumerOptions {
  readonly source: ClientSource;
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly consumer: string;
  readonly handler: Handler;
  readonly middleware: readonly Middleware[];
  readonly policies: RetryPolicies;
  readonly modes: ReadonlyArray<readonly [pattern: string, mode: ConsumerMode]>;
  readonly fromBeginning: boolean;
  readonly createTopics: boolean;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxWaitTimeMs: number;
  readonly partitionsConsumedConcurrently: number;
  readonly publishTimeoutMs: number;
  readonly onEvent: ((event: KafkaConsumerEvent) => void) | undefined;
}

const FIELDS = [
  ...BROKER_FIELDS, 'kafka', 'groupId', 'topics', 'consumer', 'handler', 'middleware', 'policies', 'modes', 'fromBeginning',
  'createTopics', 'sessionTimeoutMs', 'heartbeatIntervalMs', 'maxWaitTimeMs', 'partitionsConsumedConcurrently', 'publishTimeoutMs', 'onEvent',
];
const SUBJECT = 'kafka consumer options';
const whole = 'must be a whole number of milliseconds > 0';

export function resolveConsumerOptions(input: unknown): ResolvedConsumerOptions {
  if (!isRecord(input)) throw new ConfigError(SUBJECT, [{ field: 'options', message: `must be an object, got ${show(input)}` }]);
  const problems: Problems = [];
  checkKnownFields(input, FIELDS, '', problems);
  const source = checkClientSource(input, problems);
  checkOptional(input.groupId, isNonEmptyString, 'must be a non-empty string naming the consumer group', 'groupId', problems);
  if (input.groupId === undefined) problems.push({ field: 'groupId', message: 'is required: the consumer group, e.g. "billing"' });
  const topics = checkTopics(input.topics, problems);
  checkOptional(input.consumer, isNonEmptyString, 'must be a non-empty string', 'consumer', problems);
  if (typeof input.handler !== 'function') {
    problems.push({ field: 'handler', message: `must be a function (message, context) => Promise<void>, got ${show(input.handler)}` });
  }
  const middleware = checkMiddleware(input.middleware, problems);
  const policies = checkPolicies(input.policies, problems);
  const modes = checkModes(input.modes, problems);
  checkOptional(input.fromBeginning, isBoolean, 'must be true or false', 'fromBeginning', problems);
  checkOptional(input.createTopics, isBoolean, 'must be true or false', 'createTopics', problems);
  for (const field of ['sessionTimeoutMs', 'heartbeatIntervalMs', 'maxWaitTimeMs', 'publishTimeoutMs']) {
    checkOptional(input[field], isPositiveInteger, whole, field, problems);
  }
  checkOptional(input.partitionsConsumedConcurrently, isPositiveInteger, 'must be a whole number >= 1', 'partitionsConsumedConcurrently', problems);
  const d = KAFKA_CONSUMER_DEFAULTS;
  const sessionTimeoutMs = (input.sessionTimeoutMs as number | undefined) ?? d.sessionTimeoutMs;
  const heartbeatIntervalMs = (input.heartbeatIntervalMs as number | undefined) ?? d.heartbeatIntervalMs;
  if (isPositiveInteger(sessionTimeoutMs) && isPositiveInteger(heartbeatIntervalMs) && heartbeatIntervalMs >= sessionTimeoutMs) {
    problems.push({ field: 'heartbeatIntervalMs', message: `must be below sessionTimeoutMs (${sessionTimeoutMs}); about a third of it is usual` });
  }
  checkOptional(input.onEvent, isFunction, 'must be a function', 'onEvent', problems);
  if (problems.length > 0 || source === undefined || policies === undefined) throw new ConfigError(SUBJECT, problems);
  return Object.freeze({
    source,
    groupId: input.groupId as string,
    topics,
    consumer: (input.consumer as string | undefined) ?? (input.groupId as string),
    handler: input.handler as Handler,
    middleware,
    policies,
    modes,
    fromBeginning: (input.fromBeginning as boolean | undefined) ?? d.fromBeginning,
    createTopics: (input.createTopics as boolean | undefined) ?? d.createTopics,
    sessionTimeoutMs,
    heartbeatIntervalMs,
    maxWaitTimeMs: (input.maxWaitTimeMs as number | undefined) ?? d.maxWaitTimeMs,
    partitionsConsumedConcurrently: (input.partitionsConsumedConcurrently as number | undefined) ?? d.partitionsConsumedConcurrently,
    publishTimeoutMs: (input.publishTimeoutMs as number | undefined) ?? d.publishTimeoutMs,
    onEvent: input.onEvent as ResolvedConsumerOptions['onEvent'],
  });
}

function checkTopics(input: unknown, problems: Problems): readonly string[] {
  if (!Array.isArray(input) || input.length === 0) {
    problems.push({ field: 'topics', message: `must be a non-empty array of Kafka topic names, e.g. ["orders"], got ${show(input)}` });
    return [];
  }
  const valid: string[] = [];
  input.forEach((topic: unknown, i) => {
    if (!checkKafkaTopic(topic, `topics[${i}]`, problems)) return;
    const name = topic as string;
    if (valid.includes(name)) problems.push({ field: `topics[${i}]`, message: `repeats ${JSON.stringify(name)}; list each topic once` });
    else valid.push(name);
    for (const derived of [retryTopicName(name), deadLetterTopicName(name)]) {
      checkKafkaTopic(derived, `topics[${i}] (its topic ${derived})`, problems);
    }
  });
  for (const [i, name] of valid.entries()) {
    const owner = valid.find((other) => name === retryTopicName(other) || name === deadLetterTopicName(other));
    if (owner !== undefined) {
      problems.push({ field: `topics[${i}]`, message: `is the retry or dead-letter topic of ${JSON.stringify(owner)}, which the consumer handles itself; remove it` });
    }
  }
  return Object.freeze(valid);
}

function checkModes(input: unknown, problems: Problems): ResolvedConsumerOptions['modes'] {
  if (input === undefined) return [];
  if (!isRecord(input)) {
    problems.push({ field: 'modes', message: `must be an object keyed by Kafka topic pattern, e.g. { "payments": "blocking" }, got ${show(input)}` });
    return [];
  }
  const allowed: readonly unknown[] = Object.values(ConsumerMode);
  const modes: Array<readonly [string, ConsumerMode]> = [];
  for (const [pattern, mode] of Object.entries(input)) {
    const path = `modes[${JSON.stringify(pattern)}]`;
    const problem = patternProblem(pattern);
    if (problem !== undefined) problems.push({ field: path, message: `is not a valid topic pattern: it ${problem}` });
    if (!allowed.includes(mode)) problems.push({ field: path, message: `must be "blocking" or "retry-topics", got ${show(mode)}` });
    else if (problem === undefined) modes.push(Object.freeze([pattern, mode as ConsumerMode]));
  }
  for (const duplicate of duplicatePatterns(modes.map(([pattern]) => pattern))) {
    problems.push({ field: `modes[${JSON.stringify(duplicate)}]`, message: 'matches exactly the same topics as another pattern; keep only one of them' });
  }
  return Object.freeze(modes);
}


