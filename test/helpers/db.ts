import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { DATABASE_URL } from './services.js';

/**
 * A pool shared by a test file, and a fresh migrated schema per call. Schemas are dropped
 * after each test; the pool is closed after the file.
 */
export function useDatabase(): { pool: pg.Pool; freshSchema(): Promise<string> } {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 12 });
  pool.on('error', () => {
    /* idle client errors (e.g. a test terminating backends) are expected */
  });
  const created: string[] = [];

  afterEach(async () => {
    for (const schema of created.splice(0)) {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });
  afterAll(async () => {
    await pool.end();
  });

  return {
    pool,
    async freshSchema() {
      const schema = `t_${randomBytes(6).toString('hex')}`;
      created.push(schema);
      await migrate(pool, { schema });
      return schema;
    },
  };
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}
