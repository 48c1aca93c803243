/**
 * The topics a consumer reads and writes: each source topic, its `${topic}.retry` topic (mode
 * retry-topics) and its `${topic}.dead` topic. At start the source topics must exist; the retry and
 * dead-letter topics are created when missing (createTopics), with the source topic's partition
 * count (so a key keeps one partition) and replication factor.
 */
import { ErrorCode, PostboxError } from '../../src/errors.js';
import { createPatternTable } from '../../src/topic.js';
import type { KafkaAdminLike } from './client.js';
import { ConsumerMode, KAFKA_CONSUMER_DEFAULTS } from './consumer-options.js';
import { deadLetterTopicName, retryTopicName } from './copies.js';

export interface TopicPlan {
  /** Every topic to subscribe to: the sources and their retry topics. */
  readonly subscriptions: readonly string[];
  /** A subscribed topic's role: its source topic, and whether it is the retry topic. */
  roleOf(topic: string): { readonly source: string; readonly retry: boolean } | undefined;
  modeOf(source: string): ConsumerMode;
}

export function planTopics(sources: readonly string[], modes: ReadonlyArray<readonly [string, ConsumerMode]>): TopicPlan {
  const table = createPatternTable(modes);
  const modeOf = (source: string): ConsumerMode => table.lookup(source) ?? KAFKA_CONSUMER_DEFAULTS.mode;
  const roles = new Map<string, { source: string; retry: boolean }>();
  for (const source of sources) {
    roles.set(source, { source, retry: false });
    if (modeOf(source) === ConsumerMode.RetryTopics) roles.set(retryTopicName(source), { source, retry: true });
  }
  return { subscriptions: Object.freeze([...roles.keys()]), roleOf: (topic) => roles.get(topic), modeOf };
}

/** The retry and dead-letter topics a source topic needs. */
function companions(plan: TopicPlan, source: string): string[] {
  const needed = [deadLetterTopicName(source)];
  if (plan.modeOf(source) === ConsumerMode.RetryTopics) needed.unshift(retryTopicName(source));
  return needed;
}

/**
 * Checks the source topics and creates missing companions (or, with create false, reports them).
 * Throws a PostboxError DestinationNotFound naming every missing topic and what to do.
 */
export async function ensureTopics(admin: KafkaAdminLike, sources: readonly string[], plan: TopicPlan, create: boolean): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missingSources = sources.filter((topic) => !existing.has(topic));
  if (missingSources.length > 0) {
    throw new PostboxError(
      ErrorCode.DestinationNotFound,
      `Kafka topic(s) ${missingSources.map((t) => JSON.stringify(t)).join(', ')} do not exist; create them before starting the consumer`,
    );
  }
  const missing = sources.flatMap((source) => companions(plan, source).filter((t) => !existing.has(t)).map((topic) => ({ source, topic })));
  if (missing.length === 0) return;
  if (!create) {
    throw new PostboxError(
      ErrorCode.DestinationNotFound,
      `the consumer's retry and dead-letter topic(s) ${missing.map((m) => JSON.stringify(m.topic)).join(', ')} do not exist; ` +
        `create them (same partition count as their source topic), or let the consumer create them (createTopics: true)`,
    );
  }
  const { topics } = await admin.fetchTopicMetadata({ topics: [...new Set(missing.map((m) => m.source))] });
  const shapes = new Map(topics.map((t) => [t.name, { numPartitions: t.partitions.length, replicationFactor: Math.max(1, ...t.partitions.map((p) => p.replicas.length)) }]));
  await admin.createTopics({
    topics: missing.map(({ source, topic }) => ({ topic, ...(shapes.get(source) ?? {}) })),
    waitForLeaders: true,
  }).catch((error: unknown) => {
    // Another consumer of the group may have created them first.
    if (causeTypes(error).every((type) => type === 'TOPIC_ALREADY_EXISTS') && causeTypes(error).length > 0) return false;
    throw error;
  });
}

/** Protocol error types in a kafkajs error (KafkaJSAggregateError lists one per topic). */
function causeTypes(error: unknown): string[] {
  const errors = (error as { errors?: unknown } | null)?.errors;
  const list = Array.isArray(errors) ? errors : [error];
  return list.map((e) => (e as { type?: unknown } | null)?.type).filter((t): t is string => typeof t === 'string');
}
