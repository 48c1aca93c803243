import { EventEmitter } from 'node:events';
import type { DeadReason } from '../retry/types.js';

/** Events a relay emits; names are namespaced with a colon. Listeners must not throw. */
export interface RelayEvents {
  'relay:started': { readonly relayId: string };
  'relay:stopped': { readonly relayId: string };
  'relay:batch-claimed': { readonly size: number };
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
  'relay:transport-unavailable': { readonly error: Error; readonly retryInMs: number };
  'relay:error': { readonly phase: RelayPhase; readonly error: Error };
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
