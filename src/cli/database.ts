import pg from 'pg';
import { DEFAULT_SCHEMA, schemaProblem } from '../db/schema.js';
import { redactUrl } from '../redact.js';
import { setting, UsageError, type Flags } from './args.js';

/** The pool and schema a command works on, from --database-url / DATABASE_URL and --schema / POSTBOX_SCHEMA. */
export function openDatabase(flags: Flags): { pool: pg.Pool; schema: string; url: string } {
  const url = setting(flags, 'database-url', 'DATABASE_URL');
  if (url === undefined) throw new UsageError('no database: pass --database-url or set DATABASE_URL (e.g. postgres://db.internal:5432/app)');
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--database-url (or DATABASE_URL) does not parse as a URL: ${redactUrl(url)}`);
  }
  const schema = setting(flags, 'schema', 'POSTBOX_SCHEMA', DEFAULT_SCHEMA) as string;
  const problem = schemaProblem(schema);
  if (problem !== undefined) throw new UsageError(`--schema (or POSTBOX_SCHEMA) ${problem}`);
  const pool = new pg.Pool({ connectionString: url, max: 6, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => {
    /* idle connection errors: the next query reconnects */
  });
  return { pool, schema, url };
}
