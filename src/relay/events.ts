import { EventEmitter } from 'node:events';
import type { DeadReason } from '../retry/types.js';

/**
 * Events a relay emits; names are namespaced with a colon. Listeners must not throw.
 *
 * An event nobody listens to costs nothing: the relay checks for listeners before it builds a
 * payload that takes work (the per-topic counts of 'relay:chunk-published' in particular).
 */
export interface RelayEvents {
  'relay:started': { readonly relayId: string };
  'relay:stopped': { readonly relayId: string };
  /** A claim returned messages (empty claims are not reported). */
  'relay:batch-claimed': { readonly size: number };
  /**
   * One transport.publish() call came back with a result per message (a call that threw
   * TransportUnavailableError reports 'relay:transport-unavailable' instead). Emitted before the
   * batch is settled: `published` counts broker acknowledgements, so a message published again
   * after a lease expired is counted again.
   */
  'relay:chunk-published': ChunkPublished;
  'relay:batch-settled': {
    readonly published: number;
    readonly retried: number;
    readonly dead: number;
    readonly released: number;
    /** Claim to settle. */
    readonly durationMs: number;
  };
  'message:retry-scheduled': {
    readonly id: string;
    readonly topic: string;
    readonly key: string | null;
    readonly attempt: number;
    readonly delayMs: number;
    readonly error: string;
  };
  'message:dead-lettered': {
    readonly id: string;
    readonly topic: string;
    readonly key: string | null;
    readonly attempt: number;
    readonly reason: DeadReason;
    readonly error: string | null;
  };
  /** Nothing could be sent: the relay puts the messages back and waits retryInMs before trying again. */
  'relay:transport-unavailable': { readonly error: Error; readonly retryInMs: number };
  /** After 'relay:transport-unavailable': the first publish() call that reached the broker again. */
  'relay:transport-recovered': { readonly unavailableMs: number };
  'relay:error': { readonly phase: RelayPhase; readonly error: Error };
}

/** Payload of 'relay:chunk-published': one transport.publish() call. */
export interface ChunkPublished {
  /** The transport's name. */
  readonly transport: string;
  /** Messages handed to publish(). */
  readonly size: number;
  /** How long publish() took, first send to last broker answer, in milliseconds. */
  readonly durationMs: number;
  /** Per topic of the chunk, in first-seen order. */
  readonly topics: readonly ChunkTopic[];
}

export interface ChunkTopic {
  readonly topic: string;
  /** Messages the broker acknowledged. */
  readonly published: number;
  /**
   * Failed messages by error code (the error's `code`, else `unknown`); only failures that count
   * as an attempt: messages put back because the relay is stopping are not failures.
   */
  readonly failures: Readonly<Record<string, number>>;
  /**
   * For each message published: milliseconds from its created_at (the enqueueing transaction's
   * start, on the database's clock) to the broker's acknowledgement (the relay's clock). Includes
   * a deliverAt/delayMs wait and retry backoffs.
   */
  readonly lagsMs: readonly number[];
}

export type RelayPhase = 'claim' | 'publish' | 'settle' | 'heartbeat' | 'cleanup' | 'listen';

/** A typed EventEmitter. */
export class RelayEmitter {
  readonly #emitter = new EventEmitter();

  on<E extends keyof RelayEvents>(event: E, listener: (payload: RelayEvents[E]) => void): () => void {
    this.#emitter.on(event, listener);
    return () => this.#emitter.off(event, listener);
  }

  emit<E extends keyof RelayEvents>(event: E, payload: RelayEvents[E]): void {
    if (this.#emitter.listenerCount(event) > 0) this.#emitter.emit(event, payload);
  }

  listening(event: keyof RelayEvents): boolean {
    return this.#emitter.listenerCount(event) > 0;
  }
}
