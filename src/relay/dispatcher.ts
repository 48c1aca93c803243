import { errorCode, isTransportUnavailableError, toError } from '../errors.js';
import type { RetryPolicies } from '../retry/policy.js';
import { startPublishSpans } from '../tracing/publish.js';
import { failed, type PublishResult, type Transport } from '../transport.js';
import type { ChunkTopic, RelayEmitter } from './events.js';
import { exhaustedBeforePublish, failureOutcome, type MessageOutcome } from './outcomes.js';
import type { ClaimedMessage } from './store.js';

/** One claim: its messages' outcomes accumulate until every message has one, then it is settled. */
export interface Batch {
  readonly token: string;
  readonly claimedAt: number;
  /** Past this time (well before the lease ends) nothing of the batch is sent any more. */
  readonly deadline: number;
  readonly outcomes: Map<ClaimedMessage, MessageOutcome>;
  pending: number;
}

interface Entry {
  readonly message: ClaimedMessage;
  readonly batch: Batch;
}

export interface DispatcherOptions {
  readonly transport: Transport;
  readonly policies: RetryPolicies;
  readonly isOrdered: (topic: string) => boolean;
  readonly random: () => number;
  /** Messages published and not yet acknowledged, at most. */
  readonly window: number;
  /** Messages per transport.publish() call. */
  readonly chunkSize: number;
  /** Aborted when the relay stops for good: what is in flight fails and is put back. */
  readonly stopSignal: AbortSignal;
  readonly onBatchDone: (batch: Batch) => void;
  readonly onTransportUnavailable: (error: Error) => void;
  readonly onTransportThrew: (error: Error) => void;
  /** A publish() call came back with results (it reached the broker, or at least did not find it unavailable). */
  readonly onTransportAnswered?: () => void;
  /** For 'relay:chunk-published', emitted only while someone listens. */
  readonly events?: RelayEmitter;
}

/**
 * Streams claimed messages to the transport: up to `window` messages unacknowledged, sent in
 * chunks, so the broker always has work (publishing batch by batch, waiting for every confirm
 * of one batch before the next, loses a third of the broker's rate).
 *
 * Per-key order: of the messages of one ordered key, only the oldest is ready; each successor
 * waits until its predecessor is confirmed. When a message fails, its waiting successors are put
 * back unsent, so n+1 never goes out before n. A chunk never holds two messages of one key.
 */
export class Dispatcher {
  readonly #options: DispatcherOptions;
  readonly #ready: Entry[] = [];
  /** Ordered keys with a message ready or in flight, and the successors waiting behind it. */
  readonly #waiting = new Map<string, Entry[]>();
  #waitingCount = 0;
  #inFlight = 0;
  #progress: Array<() => void> = [];
  /** Controllers of the chunks in flight: one stop listener aborts them all. */
  readonly #chunks = new Set<AbortController>();

  constructor(options: DispatcherOptions) {
    this.#options = options;
    options.stopSignal.addEventListener('abort', () => {
      for (const controller of this.#chunks) controller.abort();
    }, { once: true });
  }

  /** Messages claimed and not yet sent. */
  get queued(): number {
    return this.#ready.length + this.#waitingCount;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  add(batch: Batch, messages: readonly ClaimedMessage[], releaseAll: boolean): void {
    for (const message of messages) {
      const entry = { message, batch };
      const early = releaseAll ? ({ kind: 'release' } as const) : exhaustedBeforePublish(message, this.#options.policies.forTopic(message.topic));
      if (early !== undefined) {
        // Never sent, so it is no key's head: it neither holds nor moves its key's queue.
        this.#record(entry, early);
        continue;
      }
      const key = this.#orderedKey(message);
      if (key !== undefined) {
        const successors = this.#waiting.get(key);
        if (successors !== undefined) {
          successors.push(entry);
          this.#waitingCount++;
          continue;
        }
        this.#waiting.set(key, []);
      }
      this.#ready.push(entry);
    }
    this.#pump();
  }

  /** Resolves at the next change: a chunk acknowledged, a batch done, or wake(). */
  progress(): Promise<void> {
    return new Promise((resolve) => this.#progress.push(resolve));
  }

  wake(): void {
    const waiters = this.#progress;
    this.#progress = [];
    for (const resolve of waiters) resolve();
  }

  /** Puts back everything not yet sent (the transport is down, or the relay stops for good). */
  releaseQueued(): void {
    for (const entry of this.#ready.splice(0)) this.#complete(entry, { kind: 'release' });
    this.wake();
  }

  #orderedKey(message: ClaimedMessage): string | undefined {
    return message.key !== null && this.#options.isOrdered(message.topic) ? message.key : undefined;
  }

  #pump(): void {
    const { window, chunkSize } = this.#options;
    while (this.#inFlight < window && this.#ready.length > 0) {
      const chunk = this.#ready.splice(0, Math.min(chunkSize, window - this.#inFlight));
      const now = Date.now();
      const live = chunk.filter((entry) => {
        if (entry.batch.deadline > now) return true;
        this.#complete(entry, { kind: 'release' });
        return false;
      });
      if (live.length === 0) continue;
      this.#inFlight += live.length;
      void this.#send(live);
    }
  }

  async #send(chunk: Entry[]): Promise<void> {
    const { transport, events } = this.#options;
    const messages = chunk.map((entry) => entry.message);
    const spans = startPublishSpans(transport.name, messages);
    const report = events?.listening('relay:chunk-published') === true;
    const startedAt = report ? performance.now() : 0;
    const guard = this.#chunkSignal(chunk);
    let results: PublishResult[];
    let answered = false;
    try {
      results = await transport.publish(spans?.messages ?? messages, { signal: guard.signal });
      answered = true;
    } catch (thrown) {
      const error = toError(thrown);
      if (isTransportUnavailableError(error)) {
        spans?.end(error);
        for (const entry of chunk) this.#complete(entry, { kind: 'release' });
        this.releaseQueued();
        this.#options.onTransportUnavailable(error);
        this.#finishChunk(chunk.length);
        return;
      }
      if (!this.#options.stopSignal.aborted) this.#options.onTransportThrew(error);
      results = chunk.map(() => failed(error));
    } finally {
      guard.dispose();
    }
    spans?.end(results);
    if (answered) this.#options.onTransportAnswered?.();
    const durationMs = report ? performance.now() - startedAt : 0;
    const now = new Date();
    const outcomes: MessageOutcome[] | undefined = report ? [] : undefined;
    chunk.forEach((entry, index) => {
      const result = results[index] ?? failed(new Error(`transport ${transport.name} returned no result for this message`));
      const outcome: MessageOutcome = result.ok
        ? { kind: 'published' }
        : failureOutcome(entry.message, result.error, this.#options.policies.forTopic(entry.message.topic), {
            now,
            random: this.#options.random,
            stopping: this.#options.stopSignal.aborted,
          });
      outcomes?.push(outcome);
      this.#complete(entry, outcome);
    });
    if (outcomes !== undefined) {
      events?.emit('relay:chunk-published', { transport: transport.name, size: chunk.length, durationMs, topics: chunkTopics(messages, results, outcomes, now.getTime()) });
    }
    this.#finishChunk(chunk.length);
  }

  #finishChunk(size: number): void {
    this.#inFlight -= size;
    this.#pump();
    this.wake();
  }

  /** Records a message's outcome; the batch is done when every message has one. */
  #record(entry: Entry, outcome: MessageOutcome): void {
    entry.batch.outcomes.set(entry.message, outcome);
    entry.batch.pending--;
    if (entry.batch.pending === 0) this.#options.onBatchDone(entry.batch);
  }

  /**
   * A message that was ready or in flight (the head of its key) got its outcome: the key's next
   * message becomes ready, or, when this one will be retried or was put back, every waiting
   * successor is put back too.
   */
  #complete(entry: Entry, outcome: MessageOutcome): void {
    this.#record(entry, outcome);
    const key = this.#orderedKey(entry.message);
    const successors = key === undefined ? undefined : this.#waiting.get(key);
    if (key === undefined || successors === undefined) return;
    if (outcome.kind === 'published' || outcome.kind === 'dead') {
      const next = successors.shift();
      if (next === undefined) {
        this.#waiting.delete(key);
      } else {
        this.#waitingCount--;
        this.#ready.push(next);
      }
      return;
    }
    this.#waiting.delete(key);
    this.#waitingCount -= successors.length;
    for (const successor of successors) this.#record(successor, { kind: 'release' });
  }

  /** Aborted when the relay stops for good or the earliest lease deadline in the chunk passes. */
  #chunkSignal(chunk: readonly Entry[]): { signal: AbortSignal; dispose(): void } {
    const controller = new AbortController();
    if (this.#options.stopSignal.aborted) controller.abort();
    this.#chunks.add(controller);
    let deadline = Infinity;
    for (const entry of chunk) deadline = Math.min(deadline, entry.batch.deadline);
    const timer = setTimeout(() => controller.abort(), Math.max(0, deadline - Date.now()));
    return {
      signal: controller.signal,
      dispose: () => {
        clearTimeout(timer);
        this.#chunks.delete(controller);
      },
    };
  }
}

/** Per topic of a chunk: acknowledged, failures by code, lags (only built while someone listens). */
function chunkTopics(messages: readonly ClaimedMessage[], results: readonly PublishResult[], outcomes: readonly MessageOutcome[], confirmedAt: number): ChunkTopic[] {
  const byTopic = new Map<string, { topic: string; published: number; failures: Record<string, number>; lagsMs: number[] }>();
  messages.forEach((message, index) => {
    const outcome = outcomes[index] as MessageOutcome;
    if (outcome.kind === 'release') return;
    let counts = byTopic.get(message.topic);
    if (counts === undefined) {
      counts = { topic: message.topic, published: 0, failures: {}, lagsMs: [] };
      byTopic.set(message.topic, counts);
    }
    if (outcome.kind === 'published') {
      counts.published++;
      counts.lagsMs.push(Math.max(0, confirmedAt - message.createdAt.getTime()));
      return;
    }
    const result = results[index];
    const code = (result !== undefined && !result.ok ? errorCode(result.error) : undefined) ?? 'unknown';
    counts.failures[code] = (counts.failures[code] ?? 0) + 1;
  });
  return [...byTopic.values()];
}
