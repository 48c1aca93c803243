import { transactionEnded } from '../signals.js';
import { runInScope } from './ambient.js';

/**
 * The one-method database interface postbox needs: pg's Client, PoolClient and Pool fit it,
 * and so does any ORM's raw connection that can run a parameterised query. enqueue() takes it,
 * so a message joins whatever transaction the caller has open on that connection.
 */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<QueryResult>;
}

export interface QueryResult<R = any> {
  readonly rows: R[];
  readonly rowCount?: number | null;
}

/** A pooled connection that must be given back (pg's PoolClient). */
export interface PooledConnection extends Queryable {
  release(error?: Error | boolean): void;
}

/** A pool that hands out connections for transactions (pg's Pool). */
export interface ConnectionPool extends Queryable {
  connect(): Promise<PooledConnection>;
}

/**
 * Runs fn inside BEGIN/COMMIT on one connection from the pool; rolls back and rethrows when fn
 * throws. A connection whose ROLLBACK failed is destroyed rather than returned to the pool.
 *
 * The transaction is ambient while fn runs: producer facades called anywhere inside it write to
 * the outbox in this transaction, and COMMIT waits for their writes (a failed write rolls back).
 */
export async function withTransaction<T>(pool: ConnectionPool, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await runInScope(client, () => fn(client));
    await client.query('COMMIT');
    transactionEnded(client, true);
    return result;
  } catch (error) {
    transactionEnded(client, false);
    try {
      await client.query('ROLLBACK');
    } catch (rollbackError) {
      broken = rollbackError as Error;
    }
    throw error;
  } finally {
    client.release(broken);
  }
}

/**
 * Makes a transaction you opened yourself (an ORM's, or BEGIN on your own client) the ambient
 * one while fn runs, so producer facades inside fn write to the outbox in it. Does not BEGIN or
 * COMMIT: that stays yours. Resolves after every facade write started inside fn finished, and
 * rejects with the first failed one, so your transaction code rolls back.
 */
export function inTransaction<T>(tx: Queryable, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  return runInScope(tx, () => fn(tx));
}
