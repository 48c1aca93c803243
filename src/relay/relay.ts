import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { toError } from '../errors.js';
import { createConsoleLogger, type Logger } from '../logger.js';
import { orderingCaseSql } from '../retry/policy.js';
import { Ordering } from '../retry/types.js';
import { backoffDelayMs } from '../retry/backoff.js';
import { isConnectable } from '../transport.js';
import { createPgStore } from '../outbox/pg-store.js';
import { RelayEmitter, type RelayEvents, type RelayPhase } from './events.js';
import { resolveRelayOptions, type RelayOptions } from './options.js';
import { toSettlement, type MessageOutcome } from './outcomes.js';
import { Dispatcher, type Batch } from './dispatcher.js';
import type { ClaimedMessage, RelayStore } from './store.js';
import { createWaker } from './wake.js';
import { onEnqueued } from '../signals.js';
import { listenForWakeups } from './notify.js';

export interface Relay {
  readonly id: string;
  /** Starts the loop in the background. Resolves once the relay is registered and running. */
  start(): Promise<void>;
  /**
   * Stops claiming, lets in-flight batches finish and settle within timeoutMs (default
   * stopTimeoutMs), then aborts what is still publishing and puts it back. Does not close the
   * transport or the pool: they belong to the caller.
   */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends keyof RelayEvents>(event: E, listener: (payload: RelayEvents[E]) => void): () => void;
  readonly running: boolean;
}

/** Backoff for the relay's own reconnect waits (database and broker), independent of message policies. */
const RECONNECT = { initialMs: 100, multiplier: 2, maxMs: 10_000, jitter: 'equal' } as const;
const SETTLE_TRIES = 6;

export function createRelay(options: RelayOptions): Relay {
  const config = resolveRelayOptions(options);
  const { policies, transport } = config;
  const id = config.id ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const logger: Logger = config.logger ?? createConsoleLogger('warn');
  const random = config.random ?? Math.random;
  const events = new RelayEmitter();
  const orderedSql = policies.hasUnorderedTopics ? (column: string) => orderingCaseSql(policies, column) ?? 'true' : undefined;
  const store: RelayStore = createPgStore({ pool: config.pool, schema: config.schema, orderedSql });
  const isOrdered = (topic: string): boolean => policies.forTopic(topic).ordering === Ordering.Key;

  const waker = createWaker();
  const stopController = new AbortController();
  let activeBatches = 0;
  let stopping = false;
  let loop: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  let idleDelayMs = config.minPollIntervalMs;
  let eagerUntil = 0;
  let dbFailures = 0;
  let transportFailures = 0;
  let transportRetryAt = 0;
  /** When the transport was last found unavailable, until a publish() call reaches it again. */
  let transportDownSince: number | undefined;
  /** Claims made so far: with the relay id, each claim's lease token. */
  let claims = 0;
  const stopWaiters = new Set<() => void>();
  /** Rows published or dead-lettered since the last VACUUM of the outbox. */
  let removedSinceVacuum = 0;
  /** Leases settled since the last VACUUM of the lease table (it runs during a drain too). */
  let settledSinceLeaseVacuum = 0;
  let vacuuming: Promise<void> | undefined;
  const cleanups: Array<() => void> = [];

  const dispatcher = new Dispatcher({
    transport,
    policies,
    isOrdered,
    random,
    window: config.publishWindow,
    chunkSize: config.publishChunkSize,
    stopSignal: stopController.signal,
    onBatchDone: (batch) => {
      void settle(batch).finally(() => {
        activeBatches--;
        dispatcher.wake();
      });
    },
    onTransportUnavailable: noteTransportUnavailable,
    onTransportAnswered: () => {
      if (transportDownSince === undefined) return;
      const unavailableMs = Date.now() - transportDownSince;
      transportDownSince = undefined;
      logger.info('relay: transport available again', { relayId: id, transport: transport.name, unavailableMs });
      events.emit('relay:transport-recovered', { unavailableMs });
    },
    events,
    onTransportThrew: (error) =>
      reportError('publish', error, `relay: transport ${transport.name} threw instead of reporting results; counting a failed attempt`),
  });

  function reportError(phase: RelayPhase, error: unknown, message: string): void {
    const err = toError(error);
    logger.warn(message, { relayId: id, phase, error: err });
    events.emit('relay:error', { phase, error: err });
  }

  function wake(): void {
    eagerUntil = Date.now() + config.wakeWindowMs;
    waker.wake();
  }

  /**
   * Claims while the dispatcher is short of work: at most maxBatchesInFlight claims unsettled,
   * and a new claim only once fewer than batchSize claimed messages wait to be sent, so the
   * next batch is ready before the broker runs dry and claimed rows never pile up.
   */
  async function run(): Promise<void> {
    while (!stopping) {
      const waitForTransport = transportRetryAt - Date.now();
      if (waitForTransport > 0) {
        await waker.sleep(waitForTransport);
        continue;
      }
      if (activeBatches >= config.maxBatchesInFlight || dispatcher.queued >= config.batchSize) {
        await dispatcher.progress();
        continue;
      }
      const token = `${id}#${++claims}`;
      let messages: ClaimedMessage[];
      try {
        messages = await store.claim(token, config.batchSize, config.leaseMs);
        dbFailures = 0;
      } catch (error) {
        dbFailures++;
        reportError('claim', error, 'relay: claiming messages failed; retrying with backoff');
        await waker.sleep(backoffDelayMs(RECONNECT, dbFailures, random));
        continue;
      }
      if (messages.length === 0) {
        vacuumIfDue();
        if (activeBatches > 0) await dispatcher.progress();
        else await idle();
        continue;
      }
      idleDelayMs = config.minPollIntervalMs;
      events.emit('relay:batch-claimed', { size: messages.length });
      const claimedAt = Date.now();
      const batch: Batch = {
        token,
        claimedAt,
        // Past this point another relay may soon take the lease over: stop sending.
        deadline: claimedAt + Math.floor(config.leaseMs * 0.8),
        outcomes: new Map(),
        pending: messages.length,
      };
      activeBatches++;
      dispatcher.add(batch, messages, stopping);
      // A claim that was not full means the backlog is drained: let a few commits accumulate
      // before the next claim rather than claiming them one by one (wake-ups do not cut this).
      if (messages.length < config.batchSize) {
        vacuumIfDue();
        await pause(config.batchWaitMs);
      }
    }
    while (activeBatches > 0) await dispatcher.progress();
  }

  /**
   * After a backlog was drained, the outbox's head is full of dead rows that every claim walks
   * past until a vacuum: reclaim them in the background, one vacuum at a time.
   */
  function vacuumIfDue(): void {
    if (config.vacuumAfterRows === 0 || vacuuming !== undefined || removedSinceVacuum < config.vacuumAfterRows) return;
    removedSinceVacuum = 0;
    settledSinceLeaseVacuum = 0;
    startVacuum(() => store.vacuum(), 'relay: VACUUM of the outbox failed; autovacuum will catch up');
  }

  /** While a backlog drains: the lease table only (small), every vacuumAfterRows settled leases. */
  function vacuumLeasesIfDue(): void {
    if (config.vacuumAfterRows === 0 || vacuuming !== undefined || settledSinceLeaseVacuum < config.vacuumAfterRows) return;
    settledSinceLeaseVacuum = 0;
    startVacuum(() => store.vacuumLeases(), 'relay: VACUUM of the lease table failed; autovacuum will catch up');
  }

  /** In the background, one at a time. */
  function startVacuum(run: () => Promise<void>, failure: string): void {
    vacuuming = run()
      .catch((error: unknown) => reportError('cleanup', error, failure))
      .finally(() => {
        vacuuming = undefined;
      });
  }

  /** A wait only stopping cuts short. */
  function pause(ms: number): Promise<void> {
    if (ms <= 0 || stopController.signal.aborted || stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        stopWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      stopWaiters.add(done);
    });
  }

  async function idle(): Promise<void> {
    const eager = Date.now() < eagerUntil;
    await waker.sleep(eager ? config.minPollIntervalMs : idleDelayMs);
    if (!eager) idleDelayMs = Math.min(config.maxPollIntervalMs, idleDelayMs * 2);
  }

  function noteTransportUnavailable(error: Error): void {
    // Several chunks can fail at once on one outage: count it once.
    if (Date.now() < transportRetryAt) return;
    transportFailures++;
    const retryInMs = backoffDelayMs(RECONNECT, transportFailures, random);
    transportRetryAt = Date.now() + retryInMs;
    transportDownSince ??= Date.now();
    logger.warn('relay: transport unavailable; messages put back, retrying', { relayId: id, transport: transport.name, retryInMs, error });
    events.emit('relay:transport-unavailable', { error, retryInMs });
  }

  async function settle(batch: Batch): Promise<void> {
    const settlement = toSettlement(batch.outcomes);
    if (settlement.published.length > 0) transportFailures = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        const counts = await store.settle(batch.token, settlement, { retainPublished: config.retainPublishedMs > 0 });
        removedSinceVacuum += counts.published + counts.dead;
        settledSinceLeaseVacuum += batch.outcomes.size;
        vacuumLeasesIfDue();
        events.emit('relay:batch-settled', { ...counts, durationMs: Date.now() - batch.claimedAt });
        break;
      } catch (error) {
        const outOfTime = Date.now() - batch.claimedAt > config.leaseMs / 2;
        if (attempt >= SETTLE_TRIES || outOfTime) {
          reportError('settle', error, 'relay: settling a batch failed; its messages will be published again when their lease expires');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, backoffDelayMs(RECONNECT, attempt, random)));
      }
    }
    emitMessageEvents(batch.outcomes);
  }

  function emitMessageEvents(outcomes: Map<ClaimedMessage, MessageOutcome>): void {
    for (const [message, outcome] of outcomes) {
      const about = { id: message.id, topic: message.topic, key: message.key, attempt: message.attempt };
      if (outcome.kind === 'retry') {
        events.emit('message:retry-scheduled', { ...about, delayMs: outcome.delayMs, error: outcome.error.message });
      } else if (outcome.kind === 'dead') {
        logger.warn('relay: message dead-lettered', { ...about, reason: outcome.reason, error: outcome.error?.message });
        events.emit('message:dead-lettered', { ...about, reason: outcome.reason, error: outcome.error?.message ?? null });
      }
    }
  }

  function every(intervalMs: number, phase: RelayPhase, task: () => Promise<void>): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      task()
        .catch((error: unknown) => reportError(phase, error, `relay: ${phase} failed`))
        .finally(() => {
          busy = false;
        });
    }, intervalMs);
    timer.unref();
    cleanups.push(() => clearInterval(timer));
  }

  async function cleanupRound(): Promise<void> {
    for (let round = 0; round < 10; round++) {
      const counts = await store.cleanup({
        batchSize: config.cleanupBatchSize,
        retainPublishedMs: config.retainPublishedMs,
        inboxRetentionMs: config.inboxRetentionMs > 0 ? config.inboxRetentionMs : undefined,
        staleRelayMs: config.heartbeatIntervalMs * 30,
      });
      if (Math.max(...Object.values(counts)) < config.cleanupBatchSize) return;
    }
  }

  const info = { id, hostname: hostname(), pid: process.pid, transport: transport.name };

  return {
    id,
    get running() {
      return loop !== undefined && !stopping;
    },
    on: (event, listener) => events.on(event, listener),

    async start() {
      if (loop !== undefined) throw new Error(`relay ${id} was already started; create a new relay to start again`);
      await store.heartbeat(info);
      if (isConnectable(transport)) {
        await transport.connect().catch((error: unknown) => {
          transportDownSince ??= Date.now();
          reportError('publish', error, 'relay: transport could not connect yet; will retry');
        });
      }
      cleanups.push(onEnqueued(config.schema, wake));
      if (config.listen) cleanups.push(listenForWakeups(config.pool, config.schema, wake, (error) => reportError('listen', error, 'relay: LISTEN connection failed; reconnecting')));
      every(config.heartbeatIntervalMs, 'heartbeat', () => store.heartbeat(info));
      every(config.cleanupIntervalMs, 'cleanup', cleanupRound);
      loop = run();
      logger.info('relay started', { relayId: id, transport: transport.name, schema: config.schema });
      events.emit('relay:started', { relayId: id });
    },

    stop({ timeoutMs = config.stopTimeoutMs } = {}) {
      stopped ??= (async () => {
        stopping = true;
        waker.wake();
        dispatcher.wake();
        for (const cut of [...stopWaiters]) cut();
        const abortTimer = setTimeout(() => {
          stopController.abort();
          dispatcher.releaseQueued();
        }, timeoutMs);
        try {
          await loop;
          await vacuuming;
        } finally {
          clearTimeout(abortTimer);
          for (const cleanup of cleanups.splice(0)) cleanup();
        }
        await store.unregister(id).catch((error: unknown) => reportError('heartbeat', error, 'relay: could not unregister'));
        logger.info('relay stopped', { relayId: id });
        events.emit('relay:stopped', { relayId: id });
      })();
      return stopped;
    },
  };
}
