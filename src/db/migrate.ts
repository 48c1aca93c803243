import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConnectionPool, Queryable } from './queryable.js';
import { DEFAULT_SCHEMA, quoteIdent, schemaProblem } from './schema.js';
import { LockPurpose, schemaLockKey } from './locks.js';
import { ConfigError, ErrorCode, PostboxError } from '../errors.js';

/** The placeholder migrations use for the schema; replaced by the quoted schema name. */
const SCHEMA_PLACEHOLDER = /:POSTBOX_SCHEMA\b/g;
const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  readonly id: number;
  readonly name: string;
  readonly sql: string;
}

export interface MigrateOptions {
  /** Plain identifier; created when missing. Default `postbox`. */
  readonly schema?: string;
  /** Directory of NNNN_name.sql files. Default: the package's migrations/ directory. */
  readonly directory?: string;
}

export interface MigrateResult {
  readonly schema: string;
  /** Names of the migrations this call applied (empty when the schema was up to date). */
  readonly applied: readonly string[];
  /** The highest migration id now applied. */
  readonly version: number;
}

/**
 * Brings the schema up to date. Safe when several processes migrate at once: a session-level
 * advisory lock serialises them, the ledger table records what was applied, and each migration
 * runs in its own transaction with its ledger row.
 */
export async function migrate(pool: ConnectionPool, options: MigrateOptions = {}): Promise<MigrateResult> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const problem = schemaProblem(schema);
  if (problem !== undefined) throw new ConfigError('migrate options', [{ field: 'schema', message: problem }]);
  const migrations = loadMigrations(options.directory ?? migrationsDirectory());
  const s = quoteIdent(schema);
  const lockKey = schemaLockKey(schema);

  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1, $2)', [LockPurpose.Migrate, lockKey]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${s}.migrations (
           id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = new Set((await appliedIds(client, s)).map(Number));
      const latestKnown = migrations.at(-1)?.id ?? 0;
      const ahead = [...done].filter((id) => id > latestKnown);
      if (ahead.length > 0) {
        throw new PostboxError(
          ErrorCode.Migration,
          `schema ${schema} has migration ${Math.max(...ahead)} applied, newer than this postbox knows (up to ${latestKnown}); upgrade postbox before running it against this database`,
        );
      }
      const applied: string[] = [];
      for (const migration of migrations) {
        if (done.has(migration.id)) continue;
        await applyOne(client, s, migration);
        applied.push(`${String(migration.id).padStart(4, '0')}_${migration.name}`);
      }
      return { schema, applied, version: latestKnown };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [LockPurpose.Migrate, lockKey]).catch((error: Error) => {
        broken = error;
      });
    }
  } finally {
    client.release(broken);
  }
}

/** The highest applied migration id, or 0 when the schema has never been migrated. */
export async function schemaVersion(db: Queryable, schema: string = DEFAULT_SCHEMA): Promise<number> {
  const { rows } = await db.query(
    `SELECT to_regclass($1) IS NOT NULL AS present`,
    [`${quoteIdent(schema)}.migrations`],
  );
  if (!rows[0]?.present) return 0;
  const ids = await appliedIds(db, quoteIdent(schema));
  return ids.length === 0 ? 0 : Math.max(...ids.map(Number));
}

/** The migrations shipped with this version of postbox, in order. */
export function bundledMigrations(): Migration[] {
  return loadMigrations(migrationsDirectory());
}

async function appliedIds(db: Queryable, quotedSchema: string): Promise<number[]> {
  const { rows } = await db.query(`SELECT id FROM ${quotedSchema}.migrations ORDER BY id`);
  return rows.map((row: { id: number }) => row.id);
}

async function applyOne(client: Queryable, quotedSchema: string, migration: Migration): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(migration.sql.replace(SCHEMA_PLACEHOLDER, quotedSchema));
    await client.query(`INSERT INTO ${quotedSchema}.migrations (id, name) VALUES ($1, $2)`, [migration.id, migration.name]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw new PostboxError(
      ErrorCode.Migration,
      `migration ${migration.id} (${migration.name}) failed and was rolled back: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

function loadMigrations(directory: string): Migration[] {
  const migrations = readdirSync(directory)
    .map((file) => ({ file, match: FILE_NAME.exec(file) }))
    .filter((entry): entry is { file: string; match: RegExpExecArray } => entry.match !== null)
    .map(({ file, match }) => ({
      id: Number(match[1]),
      name: match[2] as string,
      sql: readFileSync(join(directory, file), 'utf8'),
    }))
    .sort((a, b) => a.id - b.id);
  migrations.forEach((migration, index) => {
    if (migration.id !== index + 1) {
      throw new PostboxError(ErrorCode.Migration, `migrations in ${directory} must be numbered 0001, 0002, ... without gaps; found ${migration.id} at position ${index + 1}`);
    }
  });
  return migrations;
}

/** Finds the package's migrations/ directory from this module (works from src/ and dist/src/). */
function migrationsDirectory(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'migrations');
    if (existsSync(join(candidate, '0001_outbox.sql'))) return candidate;
    dir = dirname(dir);
  }
  throw new PostboxError(ErrorCode.Migration, 'cannot find the migrations/ directory of the postbox package; pass options.directory');
}
