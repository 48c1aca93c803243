/**
 * Counts a transport's publish() calls under way, so close() can let them finish (for a bounded
 * time) before it tears the connection down.
 */
export interface CallsInFlight {
  begin(): void;
  end(): void;
  /** Resolves when no call is under way, or after timeoutMs, whichever is first. */
  idle(timeoutMs: number): Promise<void>;
}

export function createCallsInFlight(): CallsInFlight {
  let count = 0;
  const waiters = new Set<() => void>();
  return {
    begin() {
      count += 1;
    },
    end() {
      count -= 1;
      if (count > 0) return;
      for (const wake of waiters) wake();
      waiters.clear();
    },
    async idle(timeoutMs) {
      if (count === 0) return;
      let timer: NodeJS.Timeout | undefined;
      let wake!: () => void;
      await new Promise<void>((resolve) => {
        wake = resolve;
        waiters.add(resolve);
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      waiters.delete(wake);
    },
  };
}
