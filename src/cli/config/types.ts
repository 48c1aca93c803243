/**
 * The postbox command's configuration: what a config file holds, and what the command works with
 * once flags, environment variables and the file are merged (flags > env > file, per field).
 */
import type { LogLevel } from '../../logger.js';
import type { RetryPoliciesInput } from '../../retry/types.js';

export const TransportType = { RabbitMQ: 'rabbitmq', Kafka: 'kafka', BullMQ: 'bullmq' } as const;
export type TransportType = (typeof TransportType)[keyof typeof TransportType];
export const TRANSPORT_TYPES: readonly TransportType[] = Object.values(TransportType);

/** The adapter option each transport's broker flag and variable set. */
export const BROKER_FIELD: Readonly<Record<TransportType, 'url' | 'brokers' | 'connection'>> = {
  rabbitmq: 'url',
  kafka: 'brokers',
  bullmq: 'connection',
};

/** The relay options a config file (or a flag) may set: numbers, and listen. */
export const RELAY_NUMBER_FIELDS = [
  'batchSize',
  'maxBatchesInFlight',
  'publishWindow',
  'publishChunkSize',
  'leaseMs',
  'minPollIntervalMs',
  'maxPollIntervalMs',
  'wakeWindowMs',
  'batchWaitMs',
  'retainPublishedMs',
  'inboxRetentionMs',
  'vacuumAfterRows',
  'cleanupIntervalMs',
  'cleanupBatchSize',
  'heartbeatIntervalMs',
  'stopTimeoutMs',
] as const;
export type RelayNumberField = (typeof RELAY_NUMBER_FIELDS)[number];
export type RelaySettings = Partial<Record<RelayNumberField, number>> & { readonly listen?: boolean };

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** postbox.config.json (or the default export of postbox.config.js/.mjs/.ts). Every field optional. */
export interface ConfigFile {
  readonly database?: { readonly url?: string; readonly schema?: string };
  /** `type` picks the adapter; every other field is that adapter's own options (url / brokers / connection, routes...). */
  readonly transport?: { readonly type: TransportType; readonly [option: string]: unknown };
  readonly policies?: RetryPoliciesInput;
  readonly relay?: RelaySettings;
  readonly metrics?: { readonly port?: number; readonly host?: string };
  readonly logLevel?: LogLevel;
}

/** A config file as read from disk: where it came from, and its (unchecked) content. */
export interface LoadedFile {
  readonly path: string;
  readonly data: unknown;
}

/** The merged configuration a command works with. */
export interface CliConfig {
  readonly database: { readonly url: string | undefined; readonly schema: string };
  /** Undefined when nothing names a transport. */
  readonly transport: { readonly type: TransportType; readonly options: Readonly<Record<string, unknown>> } | undefined;
  readonly policies: RetryPoliciesInput | undefined;
  readonly relay: RelaySettings;
  readonly metrics: { readonly port: number | undefined; readonly host: string | undefined };
  readonly logLevel: LogLevel | undefined;
  /** The config file used, if any. */
  readonly file: string | undefined;
}
