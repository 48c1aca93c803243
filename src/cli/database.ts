import type pg from 'pg';
import { ConfigError, isPostboxError, type Problem } from '../errors.js';
import { redactText, redactUrl } from '../redact.js';
import { CommandFailure, UsageError } from './args.js';
import { CONFIG_SUBJECT } from './config/resolve.js';
import type { CliConfig } from './config/types.js';

export interface Database {
  readonly pool: pg.Pool;
  readonly schema: string;
  /** The URL with its password redacted, for messages. */
  readonly target: string;
}

export const DATABASE_HINT = 'pass --database-url, set DATABASE_URL, or add database.url to postbox.config.json (e.g. postgres://user:password@db.internal:5432/app)';

/** Problems that may hide a database URL: a config file that could not be read, a bad database section. */
const URL_MAY_BE_IN = new Set(['database.url', 'database', '(config file)', '--config', 'POSTBOX_CONFIG']);

/**
 * The configuration problem of a command that needs a database and was given none, to list with
 * the others; none when `found` has a problem that may be where the URL is.
 */
export function databaseUrlProblems(config: CliConfig, found: readonly Problem[] = []): Problem[] {
  if (config.database.url !== undefined || found.some((p) => URL_MAY_BE_IN.has(p.field))) return [];
  return [{ field: 'database.url', message: `is required: ${DATABASE_HINT}` }];
}

/**
 * A pool on the configured database. The URL is required: a ConfigError (exit 2) names how to
 * give it. pg is loaded here, not at start-up: help and usage errors need no driver.
 */
export async function openDatabase(config: CliConfig, options: { max?: number; connectTimeoutMs?: number } = {}): Promise<Database> {
  const url = config.database.url;
  if (url === undefined) throw new ConfigError(CONFIG_SUBJECT, databaseUrlProblems(config));
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 4, connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000 });
  pool.on('error', () => {
    /* idle connection errors: the next query reconnects */
  });
  return { pool, schema: config.database.schema, target: redactUrl(url) };
}

/** Runs fn on the configured database, turns database errors into failures that say what to do, and closes the pool. */
export async function withDatabase<T>(config: CliConfig, fn: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(config);
  try {
    return await fn(db);
  } catch (error) {
    throw explainDatabaseError(error, db);
  } finally {
    await db.pool.end().catch(() => undefined);
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET']);

/** Database errors as failures with a hint; anything else is returned unchanged. */
export function explainDatabaseError(error: unknown, db: Pick<Database, 'schema' | 'target'>): unknown {
  if (!(error instanceof Error) || error instanceof CommandFailure || error instanceof UsageError || isPostboxError(error)) return error;
  const code = (error as { code?: string }).code;
  const message = errorText(error);
  if ((code !== undefined && UNREACHABLE.has(code)) || /^(timeout expired|Connection terminated)/i.test(message)) {
    return new CommandFailure(`cannot reach PostgreSQL at ${db.target}: ${message}`, `is it running, and is the URL right? ${DATABASE_HINT}`, { cause: error });
  }
  if (code === '28P01' || code === '28000') return new CommandFailure(`PostgreSQL at ${db.target} refused the login: ${message}`, 'check the user and password in the database URL', { cause: error });
  if (code === '3D000') return new CommandFailure(`PostgreSQL at ${db.target}: ${message}`, 'create the database, or fix its name in the database URL', { cause: error });
  if (code === '42P01' || code === '3F000') {
    return new CommandFailure(`schema "${db.schema}" at ${db.target} has no postbox tables (${message})`, `run: postbox migrate --schema ${db.schema}`, { cause: error });
  }
  return error;
}

/** An error's message; pg reports a refused connection to several addresses as an AggregateError without one. */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return redactText(String(error));
  let text = error.message;
  if (text === '' && error instanceof AggregateError) text = (error.errors as unknown[]).map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
  if (text === '') text = (error as { code?: string }).code ?? error.name;
  return redactText(text);
}
