/** Named one-shot events the story waits for, with a deadline that says what did not happen. */
export interface Signals {
  fire(name: string): void;
  wait(name: string, what: string): Promise<void>;
}

export function createSignals(timeoutMs: number, abort?: AbortSignal): Signals {
  const fired = new Set<string>();
  const waiters = new Map<string, Array<() => void>>();
  return {
    fire(name) {
      fired.add(name);
      for (const wake of waiters.get(name) ?? []) wake();
      waiters.delete(name);
    },
    wait(name, what) {
      if (fired.has(name)) return Promise.resolve();
      if (abort?.aborted) return Promise.reject(abort.reason);
      return new Promise((resolve, reject) => {
        const stop = (): void => {
          clearTimeout(timer);
          reject(abort?.reason);
        };
        const timer = setTimeout(() => {
          abort?.removeEventListener('abort', stop);
          reject(new Error(`demo: no ${what} within ${timeoutMs / 1000} s`));
        }, timeoutMs);
        abort?.addEventListener('abort', stop, { once: true });
        const list = waiters.get(name) ?? [];
        list.push(() => {
          clearTimeout(timer);
          abort?.removeEventListener('abort', stop);
          resolve();
        });
        waiters.set(name, list);
      });
    },
  };
}

/** Polls check every intervalMs until it is true (for database states nothing announces). */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, abort?: AbortSignal, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    abort?.throwIfAborted();
    if (Date.now() > deadline) throw new Error(`demo: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
