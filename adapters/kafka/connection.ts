/**
 * Where the adapter's Kafka client comes from: broker addresses (the adapter makes a kafkajs
 * client, loading kafkajs only then) or a client the user already has. Validation of the broker
 * options (every problem at once, credentials never echoed) and the bounded retry settings the
 * adapter gives kafkajs, so that no call of the client can outlast the adapter's own timeouts.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from '../../src/logger.js';
import { isKafkaClient, type KafkaClientLike, type RetryConfig } from './client.js';
import { stableKeylessPartitioner } from './partitioner.js';
import { checkOptional, isBoolean, isNonEmptyString, isRecord, show, type Problems } from './validation.js';

/** SASL settings, passed to kafkajs as they are (the same shapes as kafkajs's SASLOptions). */
export type KafkaSasl =
  | { readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; readonly username: string; readonly password: string }
  | {
      readonly mechanism: 'aws';
      readonly authorizationIdentity: string;
      readonly accessKeyId: string;
      readonly secretAccessKey: string;
      readonly sessionToken?: string;
    }
  | { readonly mechanism: 'oauthbearer'; readonly oauthBearerProvider: () => Promise<{ value: string }> };

export interface KafkaBrokerOptions {
  /** Bootstrap brokers as host:port, e.g. ['10.0.0.5:9092']; the client learns the others. */
  readonly brokers?: readonly string[];
  /** Shown by the brokers (request logs, quotas). Default 'postbox'. */
  readonly clientId?: string;
  /** TLS: true, or node's tls.connect options. Only with brokers. */
  readonly ssl?: boolean | ConnectionOptions;
  /** SASL credentials, as kafkajs takes them. Never logged or echoed. Only with brokers. */
  readonly sasl?: KafkaSasl;
  /** Receives kafkajs's own log lines (warnings and errors). Default: none. Only with brokers. */
  readonly logger?: Logger;
}

export interface KafkaClientOption {
  /** An existing client (kafkajs `new Kafka(...)`, or one with the same API) to make producers, admins and consumers from. */
  readonly kafka?: KafkaClientLike;
}

export const BROKER_FIELDS = ['brokers', 'clientId', 'ssl', 'sasl', 'logger'] as const;
const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'aws', 'oauthbearer'];
const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9._-]+):(\d{1,5})$/;

export type ClientSource =
  | { readonly kind: 'brokers'; readonly brokers: readonly string[]; readonly clientId: string; readonly ssl?: boolean | ConnectionOptions; readonly sasl?: KafkaSasl; readonly logger?: Logger }
  | { readonly kind: 'client'; readonly kafka: KafkaClientLike };

/**
 * Checks `brokers` (and its companions) or `kafka`, whichever is set; `others` names further
 * alternatives the caller accepts (e.g. "producer"), for the message when none is set.
 */
export function checkClientSource(input: Record<string, unknown>, problems: Problems, others: readonly string[] = []): ClientSource | undefined {
  const alternatives = ['brokers', 'kafka', ...others];
  const given = alternatives.filter((name) => input[name] !== undefined);
  if (given.length > 1) {
    problems.push({ field: given[1]!, message: `set only one of ${alternatives.join(', ')}; got ${given.join(' and ')}` });
    return undefined;
  }
  if (given.length === 0) {
    problems.push({ field: 'brokers', message: `is required (or ${alternatives.slice(1).join(' or ')}): the Kafka brokers as host:port, e.g. ["127.0.0.1:9092"]` });
    return undefined;
  }
  if (input.brokers === undefined) {
    for (const field of BROKER_FIELDS) {
      if (field !== 'brokers' && input[field] !== undefined) {
        problems.push({ field, message: `applies only with brokers; configure it on the client or producer you pass in` });
      }
    }
  }
  if (input.kafka !== undefined) {
    if (!isKafkaClient(input.kafka)) problems.push({ field: 'kafka', message: 'must be a Kafka client with producer(), admin() and consumer() (kafkajs: new Kafka({ brokers }))' });
    return { kind: 'client', kafka: input.kafka as KafkaClientLike };
  }
  if (input.brokers === undefined) return undefined;
  const brokers = checkBrokers(input.brokers, problems);
  checkOptional(input.clientId, isNonEmptyString, 'must be a non-empty string', 'clientId', problems);
  if (input.ssl !== undefined && !isBoolean(input.ssl) && !isRecord(input.ssl)) {
    // Not echoed: a misplaced string here is likely key or certificate material.
    problems.push({ field: 'ssl', message: `must be true, false or tls.connect options ({ ca, cert, key }), got ${Array.isArray(input.ssl) ? 'an array' : `a ${typeof input.ssl}`}` });
  }
  checkSasl(input.sasl, problems);
  const isLogger = (v: unknown): boolean => isRecord(v) && ['debug', 'info', 'warn', 'error'].every((m) => typeof v[m] === 'function');
  checkOptional(input.logger, isLogger, 'must be a logger with debug, info, warn and error methods', 'logger', problems);
  return {
    kind: 'brokers',
    brokers,
    clientId: (input.clientId as string | undefined) ?? 'postbox',
    ...(input.ssl === undefined ? {} : { ssl: input.ssl as boolean | ConnectionOptions }),
    ...(input.sasl === undefined ? {} : { sasl: input.sasl as KafkaSasl }),
    ...(input.logger === undefined ? {} : { logger: input.logger as Logger }),
  };
}

function checkBrokers(input: unknown, problems: Problems): readonly string[] {
  if (!Array.isArray(input) || input.length === 0) {
    problems.push({ field: 'brokers', message: `must be a non-empty array of host:port strings, e.g. ["127.0.0.1:9092"], got ${show(input)}` });
    return [];
  }
  input.forEach((broker: unknown, i) => {
    const match = typeof broker === 'string' ? HOST_PORT.exec(broker) : null;
    const port = match === null ? 0 : Number(match[1]);
    if (port < 1 || port > 65_535) {
      const hint = typeof broker === 'string' && broker.includes('://') ? '; leave out the scheme (kafkajs takes host:port)' : '';
      problems.push({ field: `brokers[${i}]`, message: `must be host:port with a port from 1 to 65535, e.g. "127.0.0.1:9092", got ${show(broker)}${hint}` });
    }
  });
  return Object.freeze([...(input as string[])]);
}

function checkSasl(input: unknown, problems: Problems): void {
  if (input === undefined) return;
  if (!isRecord(input)) {
    problems.push({ field: 'sasl', message: `must be an object { mechanism, ... } as kafkajs takes it, got ${show(input)}` });
    return;
  }
  if (typeof input.mechanism !== 'string' || !SASL_MECHANISMS.includes(input.mechanism)) {
    problems.push({ field: 'sasl.mechanism', message: `must be one of ${SASL_MECHANISMS.join(', ')}` });
    return;
  }
  const required: Record<string, readonly string[]> = {
    plain: ['username', 'password'],
    'scram-sha-256': ['username', 'password'],
    'scram-sha-512': ['username', 'password'],
    aws: ['authorizationIdentity', 'accessKeyId', 'secretAccessKey'],
    oauthbearer: ['oauthBearerProvider'],
  };
  for (const field of required[input.mechanism] ?? []) {
    const ok = field === 'oauthBearerProvider' ? typeof input[field] === 'function' : typeof input[field] === 'string';
    // The value is never shown: it is a credential.
    if (!ok) problems.push({ field: `sasl.${field}`, message: `is required for mechanism ${input.mechanism} (${field === 'oauthBearerProvider' ? 'a function' : 'a string'})` });
  }
}

const BOUNDED_RETRIES_WARNING = 'Limiting retries for the idempotent producer';

/**
 * kafkajs retry settings whose waits add up to about half of `budgetMs`, so that kafkajs gives up
 * (and reports why) before the adapter's own deadline in the common case.
 */
export function boundedRetry(budgetMs: number): RetryConfig {
  const initialRetryTime = 100;
  const maxRetryTime = Math.max(initialRetryTime, Math.min(1_000, Math.floor(budgetMs / 4)));
  let retries = 0;
  let total = 0;
  for (let delay = initialRetryTime; total + delay <= budgetMs / 2 && retries < 20; delay = Math.min(maxRetryTime, delay * 2)) {
    total += delay;
    retries += 1;
  }
  return { retries: Math.max(1, retries), initialRetryTime, maxRetryTime, multiplier: 2, factor: 0.2 };
}

/**
 * The client for a source. With brokers, loads kafkajs and makes a client whose requests time out
 * within `requestTimeoutMs` and whose own retries are bounded; its log lines go to the logger.
 */
export async function openClient(source: ClientSource, requestTimeoutMs: number): Promise<KafkaClientLike> {
  if (source.kind === 'client') return withStablePartitioner(source.kafka);
  const kafkajs = await import('kafkajs');
  const { Kafka, logLevel } = kafkajs;
  const { logger } = source;
  const forward = logger === undefined ? undefined : (level: number, text: string, fields: Record<string, unknown>) => {
    // Retries are bounded on purpose (each publish has a deadline; sends take turns, see
    // producer-session.ts), which kafkajs warns about at every start: not news for the operator.
    if (text.includes(BOUNDED_RETRIES_WARNING)) logger.debug(text, fields);
    else if (level === logLevel.ERROR) logger.error(text, fields);
    else if (level === logLevel.WARN) logger.warn(text, fields);
    else if (level === logLevel.INFO) logger.info(text, fields);
    else logger.debug(text, fields);
  };
  const client = new Kafka({
    clientId: source.clientId,
    brokers: [...source.brokers],
    ...(source.ssl === undefined ? {} : { ssl: source.ssl }),
    ...(source.sasl === undefined ? {} : { sasl: source.sasl as NonNullable<ConstructorParameters<typeof Kafka>[0]['sasl']> }),
    connectionTimeout: Math.min(3_000, requestTimeoutMs),
    requestTimeout: requestTimeoutMs,
    retry: boundedRetry(requestTimeoutMs),
    logLevel: forward === undefined ? logLevel.NOTHING : logLevel.WARN,
    logCreator: () => ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...fields } = log;
      forward?.(level, `kafkajs ${namespace}: ${String(message)}`, fields);
    },
  });
  return withStablePartitioner(client);
}

/**
 * A kafkajs client whose producers place keyless records by message id (partitioner.ts). Other
 * clients are returned as they are: their partitioner is theirs to choose.
 */
async function withStablePartitioner(client: KafkaClientLike): Promise<KafkaClientLike> {
  const kafkajs = await import('kafkajs').catch(() => undefined);
  if (kafkajs === undefined || !(client instanceof kafkajs.Kafka)) return client;
  const kafka = client;
  const createPartitioner = stableKeylessPartitioner(kafkajs.Partitioners.DefaultPartitioner);
  return {
    producer: (config) => kafka.producer({ ...config, createPartitioner }),
    admin: (config) => kafka.admin(config),
    consumer: (config) => kafka.consumer(config),
  };
}
