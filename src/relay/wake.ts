/**
 * Wake-ups. enqueue() signals relays in the same process (an in-process hint, free); a relay
 * sleeps in an interruptible wait between polls. The hint arrives before the producer commits,
 * so a relay treats it as "rows are coming": it polls at its fastest rate for a short window.
 */
type Listener = () => void;
const listeners = new Map<string, Set<Listener>>();

/** Called by enqueue(): wakes every relay of this schema in this process. */
export function signalEnqueued(schema: string): void {
  const set = listeners.get(schema);
  if (set === undefined) return;
  for (const listener of set) listener();
}

/** Subscribes to enqueue hints for a schema; returns the unsubscribe function. */
export function onEnqueued(schema: string, listener: Listener): () => void {
  let set = listeners.get(schema);
  if (set === undefined) {
    set = new Set();
    listeners.set(schema, set);
  }
  set.add(listener);
  return () => {
    set.delete(listener);
    if (set.size === 0) listeners.delete(schema);
  };
}

/** A sleep that wake() cuts short. A wake() while not sleeping makes the next sleep return at once. */
export interface Waker {
  sleep(ms: number): Promise<void>;
  wake(): void;
}

export function createWaker(): Waker {
  let pending: (() => void) | undefined;
  let woken = false;
  return {
    sleep(ms) {
      if (woken) {
        woken = false;
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          pending = undefined;
          woken = false;
          resolve();
        }
        pending = done;
      });
    },
    wake() {
      if (pending !== undefined) pending();
      else woken = true;
    },
  };
}
