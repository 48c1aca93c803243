/**
 * A minimal typed event emitter. Unlike node's EventEmitter it has no special 'error' event, and
 * a listener that throws cannot break the code that emitted (the error is dropped: listeners are
 * for observing, and a broken logger must not break publishing).
 */
export type Listener<A extends unknown[]> = (...args: A) => void;
export type EventMap = Record<string, unknown[]>;

export interface Emitter<E extends EventMap> {
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void;
  emit<K extends keyof E>(event: K, ...args: E[K]): void;
}

export function createEmitter<E extends EventMap>(): Emitter<E> {
  const listeners = new Map<keyof E, Set<Listener<never[]>>>();
  return {
    on(event, listener) {
      let set = listeners.get(event);
      if (set === undefined) listeners.set(event, (set = new Set()));
      const entry = listener as unknown as Listener<never[]>;
      set.add(entry);
      return () => {
        set.delete(entry);
      };
    },
    emit(event, ...args) {
      for (const listener of [...(listeners.get(event) ?? [])]) {
        try {
          (listener as unknown as Listener<typeof args>)(...args);
        } catch {
          // A throwing listener must not break the emitter's caller (see the note above).
        }
      }
    },
  };
}
