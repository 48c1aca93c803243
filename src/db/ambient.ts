import { AsyncLocalStorage } from 'node:async_hooks';
import type { Queryable } from './queryable.js';

/**
 * The ambient transaction: withTransaction() and inTransaction() make their transaction current
 * for everything their callback runs (AsyncLocalStorage), so a producer facade called deep inside
 * it writes to the outbox in that transaction without the connection being passed down.
 *
 * Writes a facade starts are tracked: the scope waits for all of them before COMMIT and fails
 * the transaction with the first error, so `channel.publish(...)` that is not awaited still
 * joins the transaction, and a failed write rolls the business change back too.
 */
export interface TransactionScope {
  readonly db: Queryable;
  /** Registers a write that must finish (successfully) before the transaction commits. */
  track(write: Promise<unknown>): void;
}

interface ScopeState extends TransactionScope {
  readonly writes: Set<Promise<unknown>>;
  /** The first tracked write that failed. */
  failure: { readonly error: unknown } | undefined;
  closed: boolean;
}

const storage = new AsyncLocalStorage<ScopeState>();

/** The transaction the current async context runs in, if any. */
export function currentScope(): TransactionScope | undefined {
  const scope = storage.getStore();
  return scope === undefined || scope.closed ? undefined : scope;
}

/** The connection of the current ambient transaction, if any. */
export function currentTransaction(): Queryable | undefined {
  return currentScope()?.db;
}

/**
 * Runs fn with db as the ambient transaction, then waits for every write tracked in it; throws
 * the first failed write's error even when fn itself succeeded (the caller then rolls back).
 */
export async function runInScope<T>(db: Queryable, fn: () => Promise<T>): Promise<T> {
  const scope: ScopeState = {
    db,
    writes: new Set(),
    failure: undefined,
    closed: false,
    track(write) {
      if (this.closed) return;
      const tracked = write.then(
        () => undefined,
        (error: unknown) => {
          this.failure ??= { error };
        },
      );
      this.writes.add(tracked);
      void tracked.finally(() => this.writes.delete(tracked));
    },
  };
  try {
    const result = await storage.run(scope, fn);
    await settle(scope);
    return result;
  } catch (error) {
    // fn failed: still wait for its writes, so none runs on the connection after ROLLBACK.
    await settle(scope).catch(() => undefined);
    throw error;
  } finally {
    scope.closed = true;
  }
}

async function settle(scope: ScopeState): Promise<void> {
  // A write may start another one (a facade called from a callback): loop until none is left.
  while (scope.writes.size > 0) await Promise.all([...scope.writes]);
  // Closed in the same tick as the last check: a facade call between here and COMMIT finds no
  // scope (and throws NoTransactionError) instead of joining a transaction that no longer waits.
  scope.closed = true;
  if (scope.failure !== undefined) throw scope.failure.error;
}
