/**
 * Prometheus metrics of one relay (prom-client). Counters and histograms follow the relay's
 * events; the outbox gauges are read at scrape time from readStatus(), cached (statusMaxAgeMs).
 *
 * Subscribing costs the relay a little per chunk ('relay:chunk-published' is only built while
 * someone listens) and per failed message; nothing per message published besides one histogram
 * observation of its lag.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Queryable } from '../db/queryable.js';
import { DEFAULT_SCHEMA } from '../db/schema.js';
import { silentLogger, type Logger } from '../logger.js';
import type { OutboxStatus } from '../outbox/status.js';
import type { Relay } from '../relay/relay.js';
import { createRelayHealth, type RelayHealth } from './health.js';
import { createStatusCache } from './status-cache.js';

export interface RelayMetricsOptions {
  /** Where the metrics are registered. Default: a registry of their own (see RelayMetrics.registry). */
  readonly registry?: Registry;
  /** For the outbox gauges and the readiness check: the relay's pool (or any connection to its database). */
  readonly pool: Queryable;
  /** The relay's schema. Default `postbox`. */
  readonly schema?: string;
  /** Prefix of every metric name. Default `postbox_`. */
  readonly prefix?: string;
  /** The outbox gauges are read from the database at most this often. Default 5000 ms. */
  readonly statusMaxAgeMs?: number;
  /** Per-topic pending gauge (`<prefix>topic_pending_messages{topic,state}`). Default true. */
  readonly perTopic?: boolean;
  /** Also register prom-client's default process metrics (CPU, memory, event loop lag...), unprefixed. Default false. */
  readonly defaultMetrics?: boolean;
  /** Readiness: the database must have answered within this window (else it is probed). Default 10,000 ms. */
  readonly databaseWindowMs?: number;
  /** Readiness: longest wait for the database probe. Default 1000 ms. */
  readonly databaseTimeoutMs?: number;
  /** Where a failed status read is reported (warn). Default: silent. */
  readonly logger?: Logger;
}

export interface RelayMetrics {
  readonly registry: Registry;
  readonly health: RelayHealth;
  /** The registry's metrics in the Prometheus text format. */
  metrics(): Promise<string>;
  /** Unsubscribes from the relay and removes these metrics from the registry. */
  close(): void;
}

const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];
const PENDING_STATES = ['ready', 'scheduled', 'retrying', 'in_flight'] as const;

export function createRelayMetrics(relay: Relay, options: RelayMetricsOptions): RelayMetrics {
  const registry = options.registry ?? new Registry();
  const prefix = options.prefix ?? 'postbox_';
  const logger = options.logger ?? silentLogger;
  const perTopic = options.perTopic ?? true;
  const names: string[] = [];
  const registers = [registry];

  function named(name: string): string {
    const full = `${prefix}${name}`;
    if (registry.getSingleMetric(full) !== undefined) {
      throw new Error(`createRelayMetrics: the registry already has a metric ${full}; use one registry (or one prefix) per relay`);
    }
    names.push(full);
    return full;
  }

  const health = createRelayHealth(relay, {
    db: options.pool,
    windowMs: options.databaseWindowMs ?? 10_000,
    timeoutMs: options.databaseTimeoutMs ?? 1_000,
  });
  const status = createStatusCache({
    db: options.pool,
    schema: options.schema ?? DEFAULT_SCHEMA,
    maxAgeMs: options.statusMaxAgeMs ?? 5_000,
    // Well inside Prometheus' default 10 s scrape timeout: a hung database shows as stale gauges
    // and postbox_relay_database_reachable 0, not as a relay that stopped answering scrapes.
    // The read goes on in the background and refreshes the gauges when it completes.
    timeoutMs: 2_000,
    onRead: () => health.noteDatabaseOk(),
  });

  const published = new Counter({ name: named('messages_published_total'), help: 'Messages the broker acknowledged', labelNames: ['topic'], registers });
  const failures = new Counter({
    name: named('publish_failures_total'),
    help: 'Failed publish attempts, by error code (each one is retried or dead-lettered)',
    labelNames: ['topic', 'code'],
    registers,
  });
  const retried = new Counter({ name: named('messages_retried_total'), help: 'Messages scheduled for another attempt after a failure', labelNames: ['topic'], registers });
  const deadLettered = new Counter({ name: named('messages_dead_lettered_total'), help: 'Messages moved to the dead letters', labelNames: ['topic', 'reason'], registers });
  const publishDuration = new Histogram({
    name: named('publish_duration_seconds'),
    help: "Duration of one transport publish call (a chunk of messages, until the broker's last acknowledgement)",
    buckets: DURATION_BUCKETS,
    registers,
  });
  const deliveryLag = new Histogram({
    name: named('delivery_lag_seconds'),
    help: "From a message's created_at (its transaction's start) to the broker's acknowledgement; includes scheduled delays and retry backoffs",
    buckets: LAG_BUCKETS,
    registers,
  });
  const batchSize = new Histogram({ name: named('batch_size'), help: 'Messages per claim (empty claims are not counted)', buckets: BATCH_BUCKETS, registers });

  let applied: OutboxStatus | undefined;
  /** One read (cached) sets every status gauge; a failed read leaves the last values and says so in database_reachable. */
  async function collectStatus(): Promise<void> {
    let current: OutboxStatus;
    try {
      current = await status.read();
    } catch (error) {
      logger.warn('metrics: reading the outbox status failed; the outbox gauges keep their last values', { error });
      return;
    }
    if (current === applied) return;
    applied = current;
    for (const state of PENDING_STATES) pending.set({ state }, current.totals[state === 'in_flight' ? 'inFlight' : state]);
    oldestAge.set((current.totals.oldestDueAgeMs ?? 0) / 1000);
    deadLetters.set(current.totals.dead);
    if (topicPending !== undefined) {
      topicPending.reset();
      for (const t of current.topics) {
        for (const state of PENDING_STATES) {
          const value = t[state === 'in_flight' ? 'inFlight' : state];
          if (value > 0) topicPending.set({ topic: t.topic, state }, value);
        }
      }
    }
  }
  const gauge = (name: string, help: string, labelNames: string[] = []): Gauge<string> =>
    new Gauge({ name: named(name), help, labelNames, registers, collect: collectStatus });
  const pending = gauge('pending_messages', 'Messages in the outbox not yet published, by state (ready, scheduled, retrying, in_flight)', ['state']);
  const topicPending = perTopic
    ? gauge('topic_pending_messages', 'Messages in the outbox not yet published, by topic and state (only topics that have some)', ['topic', 'state'])
    : undefined;
  const oldestAge = gauge('oldest_pending_age_seconds', 'Age of the oldest message that is due and not yet published (0 when none)');
  const deadLetters = gauge('dead_letters', 'Messages in the dead letters');

  new Gauge({
    name: named('relay_up'),
    help: 'Whether the relay loop is running (1) or not started or stopped (0)',
    registers,
    collect() {
      this.set(health.relayState() === 'running' ? 1 : 0);
    },
  });
  new Gauge({
    name: named('relay_transport_available'),
    help: 'Whether the transport is available (0 from a failure to reach the broker until a publish reaches it again)',
    registers,
    collect() {
      this.set(health.transportAvailable ? 1 : 0);
    },
  });
  new Gauge({
    name: named('relay_database_reachable'),
    help: 'Whether the database answered recently (relay claims and settles, status reads, or a probe)',
    registers,
    async collect() {
      this.set((await health.database()).ok ? 1 : 0);
    },
  });

  if (options.defaultMetrics === true) collectDefaultMetrics({ register: registry });

  const unsubscribe = [
    relay.on('relay:batch-claimed', ({ size }) => batchSize.observe(size)),
    relay.on('relay:chunk-published', (chunk) => {
      publishDuration.observe(chunk.durationMs / 1000);
      for (const t of chunk.topics) {
        if (t.published > 0) published.inc({ topic: t.topic }, t.published);
        for (const lag of t.lagsMs) deliveryLag.observe(lag / 1000);
        for (const code in t.failures) failures.inc({ topic: t.topic, code }, t.failures[code]);
      }
    }),
    relay.on('message:retry-scheduled', ({ topic }) => retried.inc({ topic })),
    relay.on('message:dead-lettered', ({ topic, reason }) => deadLettered.inc({ topic, reason })),
  ];

  return {
    registry,
    health,
    metrics: () => registry.metrics(),
    close() {
      for (const off of unsubscribe) off();
      health.close();
      for (const name of names) registry.removeSingleMetric(name);
    },
  };
}
