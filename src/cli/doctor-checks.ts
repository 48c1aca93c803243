/**
 * The checks of `postbox doctor`. Each returns ok, warn, fail or skip with a one-line reason,
 * and for a failure a hint saying what to do. A check never throws.
 */
import { bundledMigrations, schemaVersion } from '../db/migrate.js';
import type { Problem } from '../errors.js';
import type { Logger } from '../logger.js';
import { readStatus } from '../outbox/status.js';
import { errorText, explainDatabaseError, openDatabase, DATABASE_HINT, type Database } from './database.js';
import { CommandFailure } from './args.js';
import type { Resolved } from './config/resolve.js';
import { createTransport, TRANSPORT_HINT } from './transport.js';
import { plural } from './output.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  readonly name: string;
  readonly status: CheckStatus;
  readonly message: string;
  readonly hint?: string;
  /** Further lines: every configuration problem, pending migrations. */
  readonly details?: readonly string[];
}

const TIMEOUT_MS = 10_000;
const TRANSPORT_FIELDS = /^(transport\b|--(rabbitmq-url|kafka-brokers|redis-url)$)/;

/** Splits configuration problems: the policies and transport checks report their own. */
export function partitionProblems(problems: readonly Problem[]): { config: Problem[]; policies: Problem[]; transport: Problem[] } {
  const policies = problems.filter((p) => p.field.startsWith('policies'));
  const transport = problems.filter((p) => TRANSPORT_FIELDS.test(p.field));
  const config = problems.filter((p) => !policies.includes(p) && !transport.includes(p));
  return { config, policies, transport };
}

export function configCheck(problems: readonly Problem[], file: string | undefined): Check {
  const source = `${file === undefined ? 'no config file' : file}, flags and environment`;
  if (problems.length === 0) return { name: 'config', status: 'ok', message: `valid (${source})` };
  return {
    name: 'config',
    status: 'fail',
    message: `${plural(problems.length, 'problem')} (${source})`,
    hint: 'fix the settings listed; postbox help lists every flag and variable',
    details: problems.map((p) => `${p.field}: ${p.message}`),
  };
}

export function policiesCheck(problems: readonly Problem[], configured: boolean): Check {
  if (problems.length > 0) {
    return { name: 'policies', status: 'fail', message: plural(problems.length, 'problem'), hint: 'fix the retry policies listed', details: problems.map((p) => `${p.field}: ${p.message}`) };
  }
  return { name: 'policies', status: 'ok', message: configured ? 'valid' : 'none configured: the default applies (10 attempts, 1 s doubling to 5 min, full jitter)' };
}

/** database, schema and relays: each needs the one before it. */
export async function databaseChecks(resolved: Resolved): Promise<Check[]> {
  const { config } = resolved;
  if (config.database.url === undefined) {
    return [{ name: 'database', status: 'fail', message: 'not configured', hint: DATABASE_HINT }, skipped('schema', 'database'), skipped('relays', 'database')];
  }
  if (resolved.problems.some((p) => p.field.startsWith('database.'))) {
    return [{ name: 'database', status: 'fail', message: 'the database settings are invalid (see config)' }, skipped('schema', 'database'), skipped('relays', 'database')];
  }
  let db: Database | undefined;
  try {
    db = await openDatabase(config, { max: 1, connectTimeoutMs: TIMEOUT_MS });
    const { rows } = await db.pool.query(`SELECT current_setting('server_version') AS version`);
    const checks: Check[] = [{ name: 'database', status: 'ok', message: `reachable: PostgreSQL ${rows[0]?.version} at ${db.target}` }];
    const schema = await schemaCheck(db);
    checks.push(schema);
    checks.push(schema.status === 'ok' ? await relaysCheck(db) : skipped('relays', 'schema'));
    return checks;
  } catch (error) {
    const explained = db === undefined ? error : explainDatabaseError(error, db);
    const failure = explained instanceof CommandFailure ? explained : undefined;
    return [
      { name: 'database', status: 'fail', message: failure?.message ?? errorText(error), hint: failure?.hint ?? DATABASE_HINT },
      skipped('schema', 'database'),
      skipped('relays', 'database'),
    ];
  } finally {
    await db?.pool.end().catch(() => undefined);
  }
}

async function schemaCheck(db: Database): Promise<Check> {
  const bundled = bundledMigrations();
  const latest = bundled.at(-1)?.id ?? 0;
  const version = await schemaVersion(db.pool, db.schema);
  const migrate = `postbox migrate --schema ${db.schema}`;
  if (version === latest) return { name: 'schema', status: 'ok', message: `"${db.schema}" is at version ${version}, this postbox's latest` };
  if (version === 0) return { name: 'schema', status: 'fail', message: `"${db.schema}" has no postbox tables`, hint: `run: ${migrate}` };
  if (version > latest) {
    return { name: 'schema', status: 'fail', message: `"${db.schema}" is at version ${version}, newer than this postbox knows (${latest})`, hint: 'upgrade postbox to the version that migrated it' };
  }
  const pending = bundled.filter((m) => m.id > version).map((m) => `${String(m.id).padStart(4, '0')}_${m.name}`);
  return { name: 'schema', status: 'fail', message: `"${db.schema}" is at version ${version} of ${latest}: ${plural(pending.length, 'migration')} pending`, hint: `run: ${migrate}`, details: pending };
}

async function relaysCheck(db: Database): Promise<Check> {
  const { relays } = await readStatus(db.pool, { schema: db.schema });
  const alive = relays.filter((r) => r.alive).length;
  if (alive > 0) return { name: 'relays', status: 'ok', message: `${alive} alive` };
  const stale = relays.length === 0 ? 'none registered' : `${relays.length} stale (no heartbeat for over a minute)`;
  return { name: 'relays', status: 'warn', message: `no relay alive: ${stale}; messages wait until one runs`, hint: 'start one: postbox relay' };
}

export async function transportCheck(resolved: Resolved, problems: readonly Problem[], logger: Logger): Promise<Check> {
  if (problems.length > 0) {
    return { name: 'transport', status: 'fail', message: plural(problems.length, 'problem'), hint: 'fix the transport settings listed', details: problems.map((p) => `${p.field}: ${p.message}`) };
  }
  if (resolved.config.transport === undefined) {
    return { name: 'transport', status: 'warn', message: 'not configured (postbox relay needs one)', hint: TRANSPORT_HINT };
  }
  // The check reports a failure itself: the client's own retry logs are only for --log-level debug.
  const quiet: Logger = { debug: logger.debug, info: logger.debug, warn: logger.debug, error: logger.debug };
  let made;
  try {
    made = await createTransport(resolved.config, resolved.labels, quiet);
  } catch (error) {
    return { name: 'transport', status: 'fail', message: errorText(error) };
  }
  if ('problems' in made) {
    return { name: 'transport', status: 'fail', message: plural(made.problems.length, 'problem'), hint: 'fix the transport settings listed', details: made.problems.map((p) => `${p.field}: ${p.message}`) };
  }
  const { transport, target } = made;
  try {
    await withTimeout(transport.connect(), `no answer within ${TIMEOUT_MS / 1000} s`);
    return { name: 'transport', status: 'ok', message: `${transport.name}: connected to ${target}` };
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    const text = errorText(error);
    const detail = cause === undefined || text.includes(errorText(cause)) ? text : `${text}: ${errorText(cause)}`;
    return { name: 'transport', status: 'fail', message: `${transport.name}: cannot connect to ${target}: ${detail}`, hint: 'is the broker running, and is its address right?' };
  } finally {
    await withTimeout(transport.close(), 'close').catch(() => undefined);
  }
}

function skipped(name: string, after: string): Check {
  return { name, status: 'skip', message: `skipped: needs the ${after} check to pass` };
}

async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
