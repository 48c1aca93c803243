/**
 * A postbox ConnectionPool over one PGlite instance: PostgreSQL compiled to WebAssembly, in this
 * process, in memory or in a directory. For tests, demos and small tools; a service with several
 * processes wants a PostgreSQL server.
 *
 * PGlite is ONE session. The pool is a mutex around it: connect() holds the session until
 * release(), and pool.query() waits its turn, so transactions never interleave. Waiting is FIFO.
 * Consequences, all enforced or handled here:
 * - calling pool.query() or pool.connect() inside a transaction of the same pool (withTransaction,
 *   the inbox) would wait for itself: it throws instead, saying to use the transaction;
 * - a connection released inside an open transaction (or with an error, where pg would destroy the
 *   connection) is rolled back and its session advisory locks dropped, so the next user starts
 *   clean;
 * - LISTEN cannot work (it would hold the only session): `listen: true` on a relay reports a
 *   configuration error; producer and relay share the process, so the in-process wake-up is enough.
 */
import { currentTransaction } from '../../src/db/ambient.js';
import type { ConnectionPool, PooledConnection, QueryResult } from '../../src/db/queryable.js';
import { ErrorCode, PostboxError } from '../../src/errors.js';
import { PG_PARSERS, PG_SERIALIZERS } from './conversions.js';
import { isPGliteLike, type PGliteLike, type PGliteResults, type PGliteSource } from './pglite-like.js';

export interface PGlitePool extends ConnectionPool {
  /** The PGlite instance, once it is open. */
  database(): Promise<PGliteLike>;
  /** Callers waiting for the session (for diagnostics and tests). */
  readonly waitingCount: number;
  /**
   * Waits for the current holder and everyone queued, then refuses new work. Closes the PGlite
   * instance only when the pool created it (an instance you passed in stays yours).
   */
  end(): Promise<void>;
}

export const PGLITE_SESSION_BUSY = 'POSTBOX_PGLITE_SESSION_BUSY';
const OPTIONS = { parsers: PG_PARSERS, serializers: PG_SERIALIZERS };

/**
 * createPGlitePool() — a new in-memory database; createPGlitePool({ dataDir }) — one kept in that
 * directory; createPGlitePool(db) — your PGlite instance (give the pool the only access to it).
 * @electric-sql/pglite is loaded only when the pool creates the instance itself.
 */
export function createPGlitePool(source: PGliteSource = {}): PGlitePool {
  const owned = !isPGliteLike(source);
  const opened: Promise<PGliteLike> = isPGliteLike(source) ? Promise.resolve(source.waitReady).then(() => source) : openPGlite(source.dataDir);
  opened.catch(() => undefined); // reported by the first query
  const queue: Array<() => void> = [];
  let holder: PooledConnection | undefined;
  let busy = false;
  let ended = false;

  function acquire(call: string): Promise<PGliteLike> {
    if (ended) return Promise.reject(new PostboxError(ErrorCode.Stopped, `pglite pool: ${call} after end()`));
    const ambient = currentTransaction();
    if (holder !== undefined && ambient === holder) {
      return Promise.reject(
        new PostboxError(
          PGLITE_SESSION_BUSY,
          `pglite pool: ${call} was called inside a transaction of the same pool; PGlite has one session, so it would ` +
            'wait for that transaction forever. Run the query on the transaction (tx.query) instead.',
        ),
      );
    }
    const turn = busy ? new Promise<void>((resolve) => queue.push(resolve)) : Promise.resolve();
    busy = true;
    return turn.then(() => opened).catch((error: unknown) => {
      handOn();
      throw error;
    });
  }

  function handOn(): void {
    holder = undefined;
    const next = queue.shift();
    if (next === undefined) busy = false;
    else next();
  }

  /** Puts the session back in a clean state for the next user (pg would destroy a broken connection). */
  async function reset(db: PGliteLike, broken: boolean): Promise<void> {
    try {
      const inTransaction = db.isInTransaction?.() ?? broken;
      if (inTransaction) await db.exec('ROLLBACK');
      if (broken) await db.exec('SELECT pg_advisory_unlock_all()');
    } catch {
      /* nothing more to do: the next statement will report a broken session */
    }
  }

  return {
    async query(text, values) {
      const db = await acquire('pool.query()');
      try {
        return await run(db, text, values);
      } finally {
        await reset(db, false);
        handOn();
      }
    },

    async connect() {
      const db = await acquire('pool.connect()');
      let released = false;
      const connection: PooledConnection = {
        query(text, values) {
          if (released) return Promise.reject(new PostboxError(PGLITE_SESSION_BUSY, 'pglite pool: query on a connection that was released'));
          return run(db, text, values);
        },
        release(error) {
          if (released) return;
          released = true;
          void reset(db, error !== undefined && error !== false).finally(handOn);
        },
      };
      holder = connection;
      return connection;
    },

    database: () => opened,

    get waitingCount() {
      return queue.length;
    },

    async end() {
      if (ended) return;
      ended = true; // refuse new work; what is queued already still runs
      if (busy) await new Promise<void>((resolve) => queue.push(resolve));
      busy = true; // for good: nobody is waiting any more
      const db = await opened.catch(() => undefined);
      if (owned && db !== undefined && !db.closed) await db.close?.();
    },
  };
}

/** Like pg: no parameters -> simple protocol (several statements allowed, an array of results when more than one). */
async function run(db: PGliteLike, text: string, values: unknown[] | undefined): Promise<QueryResult> {
  if (values !== undefined && values.length > 0) return toResult(await db.query(text, values, OPTIONS));
  const results = (await db.exec(text, OPTIONS)).map(toResult);
  return (results.length === 1 ? results[0] : results) as QueryResult;
}

function toResult(result: PGliteResults): QueryResult & { command?: string; fields: PGliteResults['fields'] } {
  const changes = result.command === 'SELECT' ? result.rows.length : result.affectedRows;
  return { rows: result.rows, rowCount: result.rowCount ?? changes ?? null, command: result.command, fields: result.fields };
}

async function openPGlite(dataDir: string | undefined): Promise<PGliteLike> {
  let module: { PGlite: new (dataDir?: string) => PGliteLike };
  try {
    module = (await import('@electric-sql/pglite' as string)) as typeof module;
  } catch (error) {
    throw new PostboxError(
      ErrorCode.Config,
      'pglite pool: @electric-sql/pglite is not installed; `npm install @electric-sql/pglite` (or pass your PGlite instance)',
      { cause: error },
    );
  }
  const db = new module.PGlite(dataDir);
  await db.waitReady;
  return db;
}
