/**
 * Options of the Kafka transport: types, defaults (one constant) and validation that reports every
 * problem at once in one ConfigError, never echoing credentials.
 *
 * The transport needs one of: `brokers` (it makes and owns a kafkajs client), `kafka` (an existing
 * client: the transport makes and owns its producers and admin from it) or `producer` (an existing
 * producer, used as it is and never disconnected; add `admin` so missing topics are found fast).
 */
import { ConfigError } from '../../src/errors.js';
import { isAdmin, isProducer, type KafkaAdminLike, type KafkaProducerLike } from './client.js';
import { BROKER_FIELDS, checkClientSource, type ClientSource, type KafkaBrokerOptions, type KafkaClientOption } from './connection.js';
import { checkRoutes, type KafkaRoute, type ResolvedRoutes } from './routes.js';
import { checkKnownFields, checkOptional, isBoolean, isPositiveInteger, isRecord, show, type Problems } from './validation.js';

export interface KafkaTransportOptions extends KafkaBrokerOptions, KafkaClientOption {
  /**
   * An existing producer, created with `idempotent: true` (and maxInFlightRequests <= 5) and
   * connected or not (the transport connects it once). Never disconnected by the transport.
   */
  readonly producer?: KafkaProducerLike;
  /** Only with producer: an admin to check that topics exist before their first use. */
  readonly admin?: KafkaAdminLike;
  /** Postbox topic pattern -> Kafka topic. Unmatched topics go to the Kafka topic of the same name. */
  readonly routes?: Readonly<Record<string, KafkaRoute>>;
  /** Let the broker create missing topics (if its auto.create.topics.enable allows). Default false. */
  readonly allowAutoTopicCreation?: boolean;
  /** A publish() call resolves within this time, counted from its start. Default 10 000. */
  readonly publishTimeoutMs?: number;
}

export const KAFKA_DEFAULTS = Object.freeze({
  publishTimeoutMs: 10_000,
  allowAutoTopicCreation: false,
  clientId: 'postbox',
  /** Messages per publish() call the relay should send: one produce request carries them all. */
  preferredChunkSize: 500,
});

export type ProducerSource = ClientSource | { readonly kind: 'producer'; readonly producer: KafkaProducerLike; readonly admin: KafkaAdminLike | undefined };

export interface ResolvedTransportOptions {
  readonly source: ProducerSource;
  readonly routes: ResolvedRoutes;
  readonly allowAutoTopicCreation: boolean;
  readonly publishTimeoutMs: number;
  /** Where the messages go, for error messages: the brokers, or "the given client". */
  readonly target: string;
}

const FIELDS = [...BROKER_FIELDS, 'kafka', 'producer', 'admin', 'routes', 'allowAutoTopicCreation', 'publishTimeoutMs'];
const SUBJECT = 'kafka transport options';

export function resolveTransportOptions(input: unknown): ResolvedTransportOptions {
  if (!isRecord(input)) {
    throw new ConfigError(SUBJECT, [{ field: 'options', message: `must be an object with brokers, kafka or producer, got ${show(input)}` }]);
  }
  const problems: Problems = [];
  checkKnownFields(input, FIELDS, '', problems);
  const source = checkProducerSource(input, problems);
  const routes = checkRoutes(input.routes, problems);
  checkOptional(input.allowAutoTopicCreation, isBoolean, 'must be true or false', 'allowAutoTopicCreation', problems);
  checkOptional(input.publishTimeoutMs, isPositiveInteger, 'must be a whole number of milliseconds > 0', 'publishTimeoutMs', problems);
  if (problems.length > 0 || source === undefined) throw new ConfigError(SUBJECT, problems);
  return Object.freeze({
    source,
    routes,
    allowAutoTopicCreation: (input.allowAutoTopicCreation as boolean | undefined) ?? KAFKA_DEFAULTS.allowAutoTopicCreation,
    publishTimeoutMs: (input.publishTimeoutMs as number | undefined) ?? KAFKA_DEFAULTS.publishTimeoutMs,
    target: describeTarget(source),
  });
}

function checkProducerSource(input: Record<string, unknown>, problems: Problems): ProducerSource | undefined {
  if (input.admin !== undefined && input.producer === undefined) {
    problems.push({ field: 'admin', message: 'applies only with producer (with brokers or kafka the transport makes its own admin)' });
  }
  if (input.producer === undefined) return checkClientSource(input, problems, ['producer']);
  const before = problems.length;
  checkClientSource(input, problems, ['producer']); // reports a second source and broker-only fields
  if (!isProducer(input.producer)) {
    problems.push({ field: 'producer', message: 'must be a Kafka producer with connect(), disconnect() and sendBatch() (kafkajs: kafka.producer({ idempotent: true }))' });
  } else if (typeof input.producer.isIdempotent === 'function' && input.producer.isIdempotent() === false) {
    problems.push({
      field: 'producer',
      message: 'must be idempotent, so that its retries cannot duplicate or reorder records: kafka.producer({ idempotent: true, maxInFlightRequests: 1 })',
    });
  }
  if (input.admin !== undefined && !isAdmin(input.admin)) {
    problems.push({ field: 'admin', message: 'must be a Kafka admin client with connect() and listTopics() (kafkajs: kafka.admin())' });
  }
  if (problems.length > before) return undefined;
  return { kind: 'producer', producer: input.producer as KafkaProducerLike, admin: input.admin as KafkaAdminLike | undefined };
}

export function describeTarget(source: ProducerSource | ClientSource): string {
  switch (source.kind) {
    case 'brokers':
      return `Kafka at ${source.brokers.join(',')}`;
    case 'client':
      return 'the Kafka cluster of the given client';
    case 'producer':
      return 'the Kafka cluster of the given producer';
  }
}
