import { afterEach, describe, it, expect } from 'vitest';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { migrate, schemaVersion, bundledMigrations } from '../../src/db/migrate.js';
import { ConfigError, ErrorCode, PostboxError } from '../../src/errors.js';
import type { ConnectionPool } from '../../src/db/queryable.js';
import { useDatabase } from '../helpers/db.js';
import { DATABASE_URL } from '../helpers/services.js';

const { pool, freshSchema } = useDatabase();
const LATEST = bundledMigrations().at(-1)!.id;

/** Schemas these tests create by hand (not through freshSchema), dropped after each test. */
const own: string[] = [];
afterEach(async () => {
  for (const schema of own.splice(0)) await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
});
function newSchemaName(): string {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  own.push(schema);
  return schema;
}

async function ledger(schema: string): Promise<Array<{ id: number; name: string }>> {
  const { rows } = await pool.query(`SELECT id, name FROM "${schema}".migrations ORDER BY id`);
  return rows;
}

describe('migrate', () => {
  it('creates the schema, applies every migration once and reports them', async () => {
    const schema = newSchemaName();
    expect(await schemaVersion(pool, schema)).toBe(0);
    const result = await migrate(pool, { schema });
    expect(result.schema).toBe(schema);
    expect(result.version).toBe(LATEST);
    expect(result.applied).toEqual(bundledMigrations().map((m) => `${String(m.id).padStart(4, '0')}_${m.name}`));
    expect((await ledger(schema)).map((r) => r.id)).toEqual(bundledMigrations().map((m) => m.id));
    expect(await schemaVersion(pool, schema)).toBe(LATEST);
    const { rows } = await pool.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [schema],
    );
    expect(rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['dead_letters', 'idempotency_keys', 'inbox', 'migrations', 'outbox', 'outbox_published', 'relays']),
    );
  });

  it('is idempotent: a second run applies nothing and changes nothing', async () => {
    const schema = await freshSchema();
    const before = await ledger(schema);
    const again = await migrate(pool, { schema });
    expect(again.applied).toEqual([]);
    expect(again.version).toBe(LATEST);
    expect(await ledger(schema)).toEqual(before);
  });

  it('lets two pools migrate the same fresh schema at once: both succeed, each migration is applied once', async () => {
    const schema = newSchemaName();
    const pools = [new pg.Pool({ connectionString: DATABASE_URL, max: 2 }), new pg.Pool({ connectionString: DATABASE_URL, max: 2 })];
    try {
      const results = await Promise.all(pools.map((p) => migrate(p, { schema })));
      expect(results.map((r) => r.version)).toEqual([LATEST, LATEST]);
      // Exactly one of them applied the migrations; the other found them done.
      expect(results.map((r) => r.applied.length).sort()).toEqual([0, bundledMigrations().length]);
      const rows = await ledger(schema);
      expect(rows.map((r) => r.id)).toEqual(bundledMigrations().map((m) => m.id));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('rejects a schema name that is not a plain identifier with a ConfigError, before any SQL', async () => {
    const calls: string[] = [];
    const spy: ConnectionPool = {
      query: async (text) => {
        calls.push(text);
        return { rows: [] };
      },
      connect: async () => {
        calls.push('connect');
        throw new Error('must not connect');
      },
    };
    for (const schema of ["Robert'); DROP", 'Upper', '1abc', '', 'a-b', 'x'.repeat(64)]) {
      const error = await migrate(spy, { schema }).catch((e: unknown) => e);
      expect(error, schema).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems[0]!.field).toBe('schema');
    }
    expect(calls).toEqual([]);
  });

  it('refuses a schema whose ledger has a migration newer than this version knows, and changes nothing', async () => {
    const schema = await freshSchema();
    await pool.query(`INSERT INTO "${schema}".migrations (id, name) VALUES ($1, 'from_the_future')`, [LATEST + 7]);
    const error = await migrate(pool, { schema }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PostboxError);
    expect((error as PostboxError).code).toBe(ErrorCode.Migration);
    expect((error as Error).message).toContain(String(LATEST + 7));
    expect((error as Error).message).toMatch(/upgrade postbox/);
    expect((await ledger(schema)).length).toBe(LATEST + 1);
  });

  it('releases its advisory lock after a refusal, so the next migrate is not blocked', async () => {
    const schema = await freshSchema();
    await pool.query(`INSERT INTO "${schema}".migrations (id, name) VALUES ($1, 'future')`, [LATEST + 1]);
    await expect(migrate(pool, { schema })).rejects.toThrow(/newer/);
    await pool.query(`DELETE FROM "${schema}".migrations WHERE id = $1`, [LATEST + 1]);
    // A second session would wait on a leaked session lock; lock_timeout turns that into an error.
    const other = new pg.Pool({ connectionString: DATABASE_URL, max: 1, options: '-c lock_timeout=3000' });
    try {
      await expect(migrate(other, { schema })).resolves.toMatchObject({ applied: [] });
    } finally {
      await other.end();
    }
  });
});
