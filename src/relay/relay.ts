import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { isTransportUnavailableError, toError } from '../errors.js';
import { createConsoleLogger, type Logger } from '../logger.js';
import { orderingCaseSql } from '../retry/policy.js';
import { Ordering } from '../retry/types.js';
import { backoffDelayMs } from '../retry/backoff.js';
import { failed, isConnectable, type PublishResult } from '../transport.js';
import { createPgStore } from '../outbox/pg-store.js';
import { RelayEmitter, type RelayEvents, type RelayPhase } from './events.js';
import { resolveRelayOptions, type RelayOptions } from './options.js';
import { exhaustedBeforePublish, failureOutcome, leaseRef, type MessageOutcome } from './outcomes.js';
import { emptySettlement, type ClaimedMessage, type RelayStore } from './store.js';
import { splitIntoWaves } from './waves.js';
import { createWaker, onEnqueued } from './wake.js';
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
  const inFlight = new Set<Promise<void>>();
  let stopping = false;
  let loop: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  let idleDelayMs = config.minPollIntervalMs;
  let eagerUntil = 0;
  let dbFailures = 0;
  let transportFailures = 0;
  let transportRetryAt = 0;
  const cleanups: Array<() => void> = [];

  function reportError(phase: RelayPhase, error: unknown, message: string): void {
    const err = toError(error);
    logger.warn(message, { relayId: id, phase, error: err });
    events.emit('relay:error', { phase, error: err });
  }

  function wake(): void {
    eagerUntil = Date.now() + config.wakeWindowMs;
    waker.wake();
  }

  async function run(): Promise<void> {
    while (!stopping) {
      const waitForTransport = transportRetryAt - Date.now();
      if (waitForTransport > 0) {
        await waker.sleep(waitForTransport);
        continue;
      }
      if (inFlight.size >= config.maxBatchesInFlight) {
        await Promise.race(inFlight);
        continue;
      }
      let batch: ClaimedMessage[];
      try {
        batch = await store.claim(id, config.batchSize, config.leaseMs);
        dbFailures = 0;
      } catch (error) {
        dbFailures++;
        reportError('claim', error, 'relay: claiming messages failed; retrying with backoff');
        await waker.sleep(backoffDelayMs(RECONNECT, dbFailures, random));
        continue;
      }
      if (batch.length === 0) {
        if (inFlight.size > 0) await Promise.race(inFlight);
        else await idle();
        continue;
      }
      idleDelayMs = config.minPollIntervalMs;
      events.emit('relay:batch-claimed', { size: batch.length });
      const task: Promise<void> = processBatch(batch, Date.now())
        .catch((error: unknown) => reportError('publish', error, 'relay: unexpected error while processing a batch'))
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
    await Promise.allSettled([...inFlight]);
  }

  async function idle(): Promise<void> {
    const eager = Date.now() < eagerUntil;
    await waker.sleep(eager ? config.minPollIntervalMs : idleDelayMs);
    if (!eager) idleDelayMs = Math.min(config.maxPollIntervalMs, idleDelayMs * 2);
  }

  async function processBatch(batch: ClaimedMessage[], claimedAt: number): Promise<void> {
    const outcomes = new Map<ClaimedMessage, MessageOutcome>();
    const live: ClaimedMessage[] = [];
    for (const message of batch) {
      const exhausted = stopping ? { kind: 'release' as const } : exhaustedBeforePublish(message, policies.forTopic(message.topic));
      if (exhausted === undefined) live.push(message);
      else outcomes.set(message, exhausted);
    }
    const guard = batchSignal();
    try {
      await publishWaves(live, guard.signal, outcomes);
    } finally {
      guard.dispose();
    }
    await settle(outcomes, claimedAt);
  }

  /**
   * Aborted when the relay stops for good, or when publishing approaches the end of the lease
   * (past it another relay may publish the same messages). Disposed after each batch, so a
   * long-running relay keeps no listeners or timers per batch.
   */
  function batchSignal(): { signal: AbortSignal; dispose(): void } {
    const controller = new AbortController();
    const abort = (): void => controller.abort();
    if (stopController.signal.aborted) abort();
    stopController.signal.addEventListener('abort', abort, { once: true });
    const timer = setTimeout(abort, Math.floor(config.leaseMs * 0.8));
    return {
      signal: controller.signal,
      dispose() {
        clearTimeout(timer);
        stopController.signal.removeEventListener('abort', abort);
      },
    };
  }

  async function publishWaves(live: ClaimedMessage[], signal: AbortSignal, outcomes: Map<ClaimedMessage, MessageOutcome>): Promise<void> {
    const blockedKeys = new Set<string>();
    let unavailable: Error | undefined;

    for (const wave of splitIntoWaves(live, isOrdered)) {
      const sendable = wave.filter((message) => {
        const held = unavailable !== undefined || (message.key !== null && blockedKeys.has(message.key));
        if (held) outcomes.set(message, { kind: 'release' });
        return !held;
      });
      if (sendable.length === 0) continue;
      let results: PublishResult[];
      try {
        results = await transport.publish(sendable, { signal });
      } catch (error) {
        if (isTransportUnavailableError(error)) {
          unavailable = error;
          for (const message of sendable) outcomes.set(message, { kind: 'release' });
          continue;
        }
        if (!stopController.signal.aborted) {
          reportError('publish', error, `relay: transport ${transport.name} threw instead of reporting results; counting a failed attempt`);
        }
        results = sendable.map(() => failed(toError(error)));
      }
      const now = new Date();
      sendable.forEach((message, index) => {
        const result = results[index] ?? failed(new Error(`transport ${transport.name} returned no result for this message`));
        const outcome: MessageOutcome = result.ok
          ? { kind: 'published' }
          : failureOutcome(message, result.error, policies.forTopic(message.topic), { now, random, stopping: stopController.signal.aborted });
        outcomes.set(message, outcome);
        const holdsKey = (outcome.kind === 'retry' || outcome.kind === 'release') && message.key !== null && isOrdered(message.topic);
        if (holdsKey) blockedKeys.add(message.key as string);
      });
    }

    if (unavailable !== undefined) noteTransportUnavailable(unavailable);
    else if (live.length > 0) transportFailures = 0;
  }

  function noteTransportUnavailable(error: Error): void {
    transportFailures++;
    const retryInMs = backoffDelayMs(RECONNECT, transportFailures, random);
    transportRetryAt = Date.now() + retryInMs;
    logger.warn('relay: transport unavailable; messages put back, retrying', { relayId: id, transport: transport.name, retryInMs, error });
    events.emit('relay:transport-unavailable', { error, retryInMs });
  }

  async function settle(outcomes: Map<ClaimedMessage, MessageOutcome>, claimedAt: number): Promise<void> {
    const settlement = emptySettlement();
    for (const [message, outcome] of outcomes) {
      const ref = leaseRef(message);
      if (outcome.kind === 'published') settlement.published.push(ref);
      else if (outcome.kind === 'retry') settlement.retried.push({ ...ref, delayMs: outcome.delayMs, error: outcome.error });
      else if (outcome.kind === 'dead') settlement.dead.push({ ...ref, reason: outcome.reason, error: outcome.error });
      else settlement.released.push(ref);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const counts = await store.settle(id, settlement, { retainPublished: config.retainPublishedMs > 0 });
        events.emit('relay:batch-settled', { ...counts, durationMs: Date.now() - claimedAt });
        break;
      } catch (error) {
        const outOfTime = Date.now() - claimedAt > config.leaseMs / 2;
        if (attempt >= SETTLE_TRIES || outOfTime) {
          reportError('settle', error, 'relay: settling a batch failed; its messages will be published again when their lease expires');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, backoffDelayMs(RECONNECT, attempt, random)));
      }
    }
    emitMessageEvents(outcomes);
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
      if (Math.max(counts.idempotencyKeys, counts.published, counts.inbox, counts.relays) < config.cleanupBatchSize) return;
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
        await transport.connect().catch((error: unknown) => reportError('publish', error, 'relay: transport could not connect yet; will retry'));
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
        const abortTimer = setTimeout(() => stopController.abort(), timeoutMs);
        try {
          await loop;
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
