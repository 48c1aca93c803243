/** Waiting helpers for calls that must not hang on a broker that went away (shared by the adapters). */

export type Raced<T> = { readonly kind: 'value'; readonly value: T } | { readonly kind: 'timeout' } | { readonly kind: 'aborted' };

/**
 * The operation's value, or 'timeout' after ms, or 'aborted' when the signal aborts first. A
 * rejection of the operation is rethrown; a rejection after the race was decided is ignored.
 */
export async function race<T>(operation: Promise<T>, ms: number, signal?: AbortSignal): Promise<Raced<T>> {
  operation.catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      operation.then((value) => ({ kind: 'value', value }) as const),
      new Promise<Raced<T>>((resolve) => {
        timer = setTimeout(() => resolve({ kind: 'timeout' }), Math.max(0, ms));
        if (signal === undefined) return;
        onAbort = () => resolve({ kind: 'aborted' });
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
}

/** Resolves when the operation settles or after ms, whichever is first; never rejects. */
export async function settleWithin(operation: Promise<unknown>, ms: number): Promise<void> {
  await race(operation, ms).catch(() => undefined);
}

/** Resolves after ms, or at once when the signal aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** A deadline as remaining milliseconds. */
export function remainingMs(deadline: number): number {
  return Math.max(0, deadline - Date.now());
}
