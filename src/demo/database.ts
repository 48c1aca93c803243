import { createPGlitePool } from '../../adapters/pglite/index.js';
import type { ConnectionPool } from '../db/queryable.js';
import { DEFAULT_SCHEMA } from '../db/schema.js';
import { redactUrl } from '../redact.js';
import { openEmbeddedPGlite } from './embedded.js';

export interface DemoDatabase {
  readonly kind: 'pglite' | 'postgres';
  readonly pool: ConnectionPool;
  /** For the first line (credentials redacted). */
  readonly label: string;
  /** postbox's tables and the demo's own (orders, invoices) live here. */
  readonly schema: string;
  /** Removes what the demo created (a throwaway schema on a real server) and closes the pool. */
  close(): Promise<void>;
}

/** PostgreSQL at `url` in a throwaway schema, or, without a URL, PGlite in memory. */
export async function openDemoDatabase(url: string | undefined, run: string): Promise<DemoDatabase> {
  if (url === undefined) {
    const embedded = await openEmbeddedPGlite();
    const pool = createPGlitePool(embedded);
    const close = async (): Promise<void> => {
      await pool.end();
      await embedded.close();
    };
    return { kind: 'pglite', pool, label: 'PGlite (embedded PostgreSQL, in memory)', schema: DEFAULT_SCHEMA, close };
  }
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => undefined);
  const schema = `demo_${run}`;
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return {
    kind: 'postgres',
    pool,
    label: `PostgreSQL at ${redactUrl(url)}, schema ${schema}`,
    schema,
    async close() {
      try {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await pool.end();
      }
    },
  };
}
