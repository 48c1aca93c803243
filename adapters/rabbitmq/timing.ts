/** Waiting helpers for operations that must not hang on a dead connection. */

/** How long a polite channel close may take before the caller moves on (the connection close kills it). */
export const CHANNEL_CLOSE_TIMEOUT_MS = 2_000;

/** Resolves when the operation settles or after ms, whichever is first; never rejects. */
export async function settleWithin(operation: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    operation.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
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
        timer = setTimeout(() => resolve({ kind: 'timeout' }), ms);
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
