import { transactionEnded } from '../signals.js';

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
 */
export async function withTransaction<T>(pool: ConnectionPool, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
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
