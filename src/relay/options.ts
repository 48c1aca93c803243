import type { ConnectionPool } from '../db/queryable.js';
import { DEFAULT_SCHEMA, schemaProblem } from '../db/schema.js';
import { ConfigError, type Problem } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RetryPoliciesInput } from '../retry/types.js';
import { compileRetryPolicies, type RetryPolicies } from '../retry/policy.js';
import { hasPublishChunking, type Transport } from '../transport.js';

/** Messages per publish() call when the transport states no preference. */
const DEFAULT_CHUNK_SIZE = 100;

export interface RelayOptions {
  /** A pg.Pool (or anything with query() and connect()). Needs maxBatchesInFlight + 2 connections. */
  readonly pool: ConnectionPool;
  readonly transport: Transport;
  readonly schema?: string;
  readonly policies?: RetryPoliciesInput;
  /** Unique per relay; default host:pid:random. */
  readonly id?: string;
  /**
   * Messages per claim. Default 500, or twice the transport's preferred chunk size when that is
   * larger (Kafka and BullMQ: 1000), so each claim feeds at least two publish calls.
   */
  readonly batchSize?: number;
  /**
   * Claims not yet settled, at most (bounds what is leased at once). Default: enough to keep the
   * publish window full with the next claims ready, 2 * ceil(publishWindow / batchSize) + 2.
   * Claimed messages that were not sent when a relay dies only wait for their lease to expire.
   */
  readonly maxBatchesInFlight?: number;
  /** Messages sent and not yet acknowledged by the broker, at most. Default 2000. */
  readonly publishWindow?: number;
  /**
   * Messages per transport.publish() call. Default: the transport's preferredChunkSize if it
   * declares one, else 100; never more than the publish window.
   */
  readonly publishChunkSize?: number;
  /** How long a claim holds its messages; a relay that dies releases them when it expires. Default 30 s. */
  readonly leaseMs?: number;
  /** Fastest poll when idle and rows are expected (after a wake-up). Default 10 ms. */
  readonly minPollIntervalMs?: number;
  /** Slowest poll when idle: the latency bound for rows enqueued by other processes. Default 1000 ms. */
  readonly maxPollIntervalMs?: number;
  /** After a wake-up hint, poll at the fastest rate for this long. Default 1000 ms. */
  readonly wakeWindowMs?: number;
  /**
   * After a claim that was not full (the backlog is drained), wait this long before the next
   * claim so messages committed meanwhile go out together. Latency against database load, like
   * Kafka's linger.ms. Default 5 ms.
   */
  readonly batchWaitMs?: number;
  /** Keep published messages (in outbox_published) this long. Default 0: delete at once. */
  readonly retainPublishedMs?: number;
  /** Delete inbox records older than this (consumers in the same schema). Default 7 days; 0 disables. */
  readonly inboxRetentionMs?: number;
  /**
   * Once the backlog is drained, VACUUM the outbox when at least this many rows were published
   * or dead-lettered since the last one: every claim walks past their dead index entries until
   * then. Needs ownership of the table (migrate gives it); 0 disables. Default 10 000.
   */
  readonly vacuumAfterRows?: number;
  /** Bounded cleanup runs this often. Default 60 s. */
  readonly cleanupIntervalMs?: number;
  /** Rows per cleanup statement. Default 1000. */
  readonly cleanupBatchSize?: number;
  readonly heartbeatIntervalMs?: number;
  /** Opt-in: LISTEN for NOTIFY wake-ups sent by createNotifier() in other processes. Needs a pg.Pool. */
  readonly listen?: boolean;
  /** Bounds stop(): in-flight batches get this long to finish before their publishes are aborted. Default 10 s. */
  readonly stopTimeoutMs?: number;
  readonly logger?: Logger;
  /** Random source for jitter (tests). */
  readonly random?: () => number;
}

interface RelayDefaults {
  readonly schema: string;
  readonly batchSize: number;
  readonly publishWindow: number;
  readonly leaseMs: number;
  readonly minPollIntervalMs: number;
  readonly maxPollIntervalMs: number;
  readonly wakeWindowMs: number;
  readonly batchWaitMs: number;
  readonly retainPublishedMs: number;
  readonly inboxRetentionMs: number;
  readonly vacuumAfterRows: number;
  readonly cleanupIntervalMs: number;
  readonly cleanupBatchSize: number;
  readonly heartbeatIntervalMs: number;
  readonly listen: boolean;
  readonly stopTimeoutMs: number;
}

export const RELAY_DEFAULTS: RelayDefaults = Object.freeze({
  schema: DEFAULT_SCHEMA,
  batchSize: 500,
  publishWindow: 2000,
  leaseMs: 30_000,
  minPollIntervalMs: 10,
  maxPollIntervalMs: 1_000,
  wakeWindowMs: 1_000,
  batchWaitMs: 5,
  retainPublishedMs: 0,
  inboxRetentionMs: 7 * 24 * 60 * 60 * 1000,
  vacuumAfterRows: 10_000,
  cleanupIntervalMs: 60_000,
  cleanupBatchSize: 1_000,
  heartbeatIntervalMs: 10_000,
  listen: false,
  stopTimeoutMs: 10_000,
});

type Numeric = { [K in keyof RelayDefaults]: RelayDefaults[K] extends number ? K : never }[keyof RelayDefaults];

const MINIMUM: Record<Numeric, number> = {
  batchSize: 1,
  publishWindow: 1,
  leaseMs: 1_000,
  minPollIntervalMs: 1,
  maxPollIntervalMs: 1,
  wakeWindowMs: 0,
  batchWaitMs: 0,
  retainPublishedMs: 0,
  inboxRetentionMs: 0,
  vacuumAfterRows: 0,
  cleanupIntervalMs: 100,
  cleanupBatchSize: 1,
  heartbeatIntervalMs: 100,
  stopTimeoutMs: 0,
};

const KNOWN = new Set(['pool', 'transport', 'policies', 'id', 'logger', 'random', 'maxBatchesInFlight', 'publishChunkSize', ...Object.keys(RELAY_DEFAULTS)]);

export type ResolvedRelayOptions = RelayDefaults &
  Pick<RelayOptions, 'pool' | 'transport' | 'id' | 'logger' | 'random'> & {
    readonly policies: RetryPolicies;
    readonly maxBatchesInFlight: number;
    readonly publishChunkSize: number;
  };

/** Applies defaults and checks every option, reporting all problems in one ConfigError. */
export function resolveRelayOptions(options: RelayOptions): Readonly<ResolvedRelayOptions> {
  const problems: Problem[] = [];
  for (const field of Object.keys(options)) {
    if (!KNOWN.has(field)) problems.push({ field, message: `is not a relay option; allowed: ${[...KNOWN].join(', ')}` });
  }
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const preferredChunk = hasPublishChunking(options.transport) ? options.transport.preferredChunkSize : DEFAULT_CHUNK_SIZE;
  const base = {
    ...RELAY_DEFAULTS,
    batchSize: Math.max(RELAY_DEFAULTS.batchSize, 2 * preferredChunk),
    ...defined,
  };
  const resolved: ResolvedRelayOptions = {
    ...base,
    policies: compilePoliciesInto(options.policies, problems),
    // Enough claims to keep the window full, the next ones ready, one settling and one claiming.
    maxBatchesInFlight: options.maxBatchesInFlight ?? 2 * Math.ceil(base.publishWindow / Math.max(1, base.batchSize)) + 2,
    publishChunkSize: Math.min(
      base.publishWindow,
      options.publishChunkSize ?? preferredChunk,
    ),
  } as ResolvedRelayOptions;
  if (!Number.isSafeInteger(resolved.publishChunkSize) || resolved.publishChunkSize < 1) {
    problems.push({ field: 'publishChunkSize', message: `must be an integer >= 1, got ${String(options.publishChunkSize)}` });
  }
  if (!Number.isSafeInteger(resolved.maxBatchesInFlight) || resolved.maxBatchesInFlight < 1) {
    problems.push({ field: 'maxBatchesInFlight', message: `must be an integer >= 1, got ${String(options.maxBatchesInFlight)}` });
  }
  if (typeof resolved.pool?.query !== 'function' || typeof resolved.pool?.connect !== 'function') {
    problems.push({ field: 'pool', message: 'must be a pg.Pool (something with query() and connect())' });
  }
  if (typeof resolved.transport?.publish !== 'function' || typeof resolved.transport?.name !== 'string') {
    problems.push({ field: 'transport', message: 'must be a Transport (name, publish(), close()), e.g. createRabbitMQTransport(...)' });
  }
  const schemaIssue = schemaProblem(resolved.schema);
  if (schemaIssue !== undefined) problems.push({ field: 'schema', message: schemaIssue });
  for (const [field, minimum] of Object.entries(MINIMUM) as Array<[Numeric, number]>) {
    const value = resolved[field];
    if (!Number.isSafeInteger(value) || value < minimum) {
      problems.push({ field, message: `must be an integer >= ${minimum}, got ${String(value)}` });
    }
  }
  if (resolved.maxPollIntervalMs < resolved.minPollIntervalMs) {
    problems.push({ field: 'maxPollIntervalMs', message: `must be >= minPollIntervalMs (${resolved.minPollIntervalMs})` });
  }
  if (resolved.id !== undefined && (typeof resolved.id !== 'string' || resolved.id.length === 0 || resolved.id.length > 200 || /[\u0000-\u001f]/.test(resolved.id))) {
    problems.push({ field: 'id', message: 'must be a non-empty string of at most 200 printable characters, unique per relay' });
  }
  if (typeof resolved.listen !== 'boolean') problems.push({ field: 'listen', message: 'must be true or false' });
  if (problems.length > 0) throw new ConfigError('relay options', problems);
  return Object.freeze(resolved);
}

function compilePoliciesInto(input: RetryPoliciesInput | undefined, problems: Problem[]): RetryPolicies {
  try {
    return compileRetryPolicies(input);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
    return compileRetryPolicies(undefined);
  }
}
