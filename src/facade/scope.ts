import { currentScope } from '../db/ambient.js';
import { CONNECTION } from '../signals.js';
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

/** Where a facade call writes, and how the write joins the transaction (see facadeTarget). */
export interface FacadeTarget {
  readonly db: Queryable;
  readonly track: (write: Promise<unknown>) => void;
  /**
   * True when `track` hands the write to the ambient scope, which fails the transaction with its
   * error: the facade may then mark its own promise handled, so a call that is not awaited does
   * not also raise an unhandled rejection.
   */
  readonly tracked: boolean;
}

/**
 * Where a facade call writes: the transaction bound with .using(tx), else the ambient one, else
 * undefined (outside any transaction).
 */
export function facadeTarget(bound: Queryable | undefined): FacadeTarget | undefined {
  const scope = currentScope();
  if (scope !== undefined && (bound === undefined || scope.db === bound)) {
    return { db: serialWrites(scope.db), track: (write) => scope.track(write), tracked: true };
  }
  return bound === undefined ? undefined : { db: serialWrites(bound), track: () => undefined, tracked: false };
}

const serialized = new WeakMap<Queryable, Queryable>();

/**
 * The connection as facades use it: their queries run one after another, so calls that are not
 * awaited (or run under Promise.all) never overlap on one connection, which pg deprecates.
 * The wrapper stands for the connection itself where postbox keys state by connection.
 */
function serialWrites(db: Queryable): Queryable {
  let wrapper = serialized.get(db);
  if (wrapper !== undefined) return wrapper;
  let tail: Promise<unknown> = Promise.resolve();
  wrapper = {
    [CONNECTION]: db,
    query(text: string, values?: unknown[]) {
      const run = tail.then(() => db.query(text, values));
      tail = run.catch(() => undefined);
      return run;
    },
  } as Queryable;
  serialized.set(db, wrapper);
  return wrapper;
}

