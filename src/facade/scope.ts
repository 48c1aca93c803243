import { currentScope } from '../db/ambient.js';
import type { Queryable } from '../db/queryable.js';
import { ErrorCode, PostboxError } from '../errors.js';

/** What a facade does when it is called outside any transaction. */
export const OutsideTransaction = {
  /** Throw NoTransactionError (the default): a message must not be sent without its business change. */
  Error: 'error',
  /** Send straight through the wrapped client, retrying transient failures under a policy. */
  Send: 'send',
} as const;
export type OutsideTransaction = (typeof OutsideTransaction)[keyof typeof OutsideTransaction];

export class NoTransactionError extends PostboxError {
  constructor(call: string) {
    super(
      ErrorCode.NoTransaction,
      `${call} was called outside a transaction, so nothing was sent. Call it inside withTransaction(pool, fn) or ` +
        `inTransaction(tx, fn), bind a transaction with .using(tx), or opt into direct sending with ` +
        `{ outsideTransaction: 'send' }`,
    );
    this.name = 'NoTransactionError';
  }
}

/**
 * Where a facade call writes: the transaction bound with .using(tx), else the ambient one.
 * `track` registers the write with the ambient scope (COMMIT waits for it); for a bound
 * transaction outside any scope the caller must await the call before committing.
 */
export function facadeTarget(bound: Queryable | undefined): { readonly db: Queryable; readonly track: (write: Promise<unknown>) => void } | undefined {
  const scope = currentScope();
  if (bound !== undefined) {
    return { db: bound, track: scope !== undefined && scope.db === bound ? (write) => scope.track(write) : () => undefined };
  }
  return scope === undefined ? undefined : { db: scope.db, track: (write) => scope.track(write) };
}
