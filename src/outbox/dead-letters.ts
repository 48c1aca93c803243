import { withTransaction, type ConnectionPool } from '../db/queryable.js';
import { DEFAULT_SCHEMA, quoteIdent, schemaProblem } from '../db/schema.js';
import { ConfigError, ValidationError, type Problem } from '../errors.js';
import { DeadReason } from '../retry/types.js';
import type { ErrorEntry } from '../relay/store.js';
import { patternProblem, parsePattern } from '../topic.js';
import { isUuid, uuidv7 } from '../uuid.js';

/** Which dead letters a call applies to. Every given field must match. */
export interface DeadLetterFilter {
  readonly ids?: readonly string[];
  /** An AMQP topic pattern (`orders.*`, `audit.#`) or a plain topic. */
  readonly topic?: string;
  readonly key?: string;
  readonly reason?: DeadReason;
  readonly deadAfter?: Date;
  readonly deadBefore?: Date;
}

export interface DeadLetterSummary {
  readonly id: string;
  readonly topic: string;
  readonly key: string | null;
  readonly reason: DeadReason;
  readonly attempts: number;
  readonly createdAt: Date;
  readonly deadAt: Date;
  readonly lastError: string | null;
}

export interface DeadLetter extends DeadLetterSummary {
  readonly payload: Buffer;
  readonly contentType: string;
  readonly headers: Record<string, string>;
  readonly correlationId: string | null;
  readonly replyTo: string | null;
  readonly errors: ErrorEntry[];
  readonly firstAttemptAt: Date | null;
  readonly lastAttemptAt: Date | null;
}

export interface DeadLetters {
  /** Oldest first. Default limit 100. */
  list(filter?: DeadLetterFilter & { readonly limit?: number }): Promise<DeadLetterSummary[]>;
  count(filter?: DeadLetterFilter): Promise<number>;
  show(id: string): Promise<DeadLetter | undefined>;
  /**
   * Moves matching dead letters (oldest first, up to limit) back to the outbox: attempts reset,
   * history kept, created_at reset so maxAgeMs counts from the replay. Ids are kept unless
   * newIds is set (then each gets a fresh UUIDv7, so consumers' inboxes see a new message).
   * With dryRun, reports what would be replayed and changes nothing.
   */
  replay(filter?: DeadLetterFilter & { readonly limit?: number; readonly newIds?: boolean; readonly dryRun?: boolean }): Promise<ReplayResult>;
  /** Deletes matching dead letters in bounded batches; returns how many (or would, with dryRun). */
  purge(filter?: DeadLetterFilter & { readonly limit?: number; readonly dryRun?: boolean }): Promise<number>;
}

export interface ReplayResult {
  readonly count: number;
  /** For each replayed dead letter: its id and the id it has in the outbox now. */
  readonly replayed: ReadonlyArray<{ readonly id: string; readonly outboxId: string }>;
}

const REASONS = new Set<string>(Object.values(DeadReason));
const PURGE_BATCH = 1000;
const MAX_LIMIT = 100_000;

export function createDeadLetters(options: { readonly pool: ConnectionPool; readonly schema?: string }): DeadLetters {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const problem = schemaProblem(schema);
  if (problem !== undefined) throw new ConfigError('dead letter options', [{ field: 'schema', message: problem }]);
  const s = quoteIdent(schema);
  const { pool } = options;

  return {
    async list(filter = {}) {
      const where = whereClause(filter, 'list');
      const limit = checkLimit(filter.limit ?? 100, 'list');
      const { rows } = await pool.query(
        `SELECT id::text, topic, key, reason, attempts, created_at, dead_at, errors -> -1 ->> 'message' AS last_error
         FROM ${s}.dead_letters WHERE ${where.sql} ORDER BY dead_at, id LIMIT ${limit}`,
        where.values,
      );
      return rows.map(toSummary);
    },

    async count(filter = {}) {
      const where = whereClause(filter, 'count');
      const { rows } = await pool.query(`SELECT count(*)::bigint AS n FROM ${s}.dead_letters WHERE ${where.sql}`, where.values);
      return Number(rows[0].n);
    },

    async show(id) {
      if (!isUuid(id)) throw new ValidationError('dead letters: show', [{ field: 'id', message: `must be a message id (UUID), got ${JSON.stringify(id)}` }]);
      const { rows } = await pool.query(
        `SELECT *, id::text AS id, errors -> -1 ->> 'message' AS last_error FROM ${s}.dead_letters WHERE id = $1`,
        [id],
      );
      return rows[0] === undefined ? undefined : toDeadLetter(rows[0]);
    },

    async replay(filter = {}) {
      const where = whereClause(filter, 'replay', 'd');
      const limit = checkLimit(filter.limit ?? MAX_LIMIT, 'replay');
      if (filter.dryRun) {
        const { rows } = await pool.query(
          `SELECT d.id::text AS id FROM ${s}.dead_letters d
           WHERE ${where.sql} AND NOT EXISTS (SELECT 1 FROM ${s}.outbox o WHERE o.id = d.id)
           ORDER BY d.dead_at, d.id LIMIT ${limit}`,
          where.values,
        );
        return { count: rows.length, replayed: rows.map((r: { id: string }) => ({ id: r.id, outboxId: r.id })) };
      }
      return withTransaction(pool, async (tx) => {
        // Lock the chosen rows; skip those another replay or purge holds, and those whose id is
        // pending in the outbox again (replaying them would collide).
        const { rows } = await tx.query(
          `SELECT d.id::text AS id FROM ${s}.dead_letters d
           WHERE ${where.sql} AND NOT EXISTS (SELECT 1 FROM ${s}.outbox o WHERE o.id = d.id)
           ORDER BY d.dead_at, d.id LIMIT ${limit} FOR UPDATE SKIP LOCKED`,
          where.values,
        );
        const ids = rows.map((r: { id: string }) => r.id);
        const outboxIds = ids.map((id) => (filter.newIds ? uuidv7() : id));
        if (ids.length === 0) return { count: 0, replayed: [] };
        await tx.query(
          `WITH moved AS (
             DELETE FROM ${s}.dead_letters d USING unnest($1::uuid[], $2::uuid[]) AS m(id, outbox_id)
             WHERE d.id = m.id
             RETURNING d.*, m.outbox_id
           )
           INSERT INTO ${s}.outbox (id, topic, key, payload, content_type, headers, correlation_id, reply_to, errors)
           SELECT outbox_id, topic, key, payload, content_type, headers, correlation_id, reply_to,
                  errors || jsonb_build_array(jsonb_build_object('at', now(), 'attempt', attempts, 'code', 'POSTBOX_REPLAYED',
                    'message', 'replayed from dead letters (reason ' || reason || ', ' || attempts || ' attempts, dead since ' || dead_at || ')'))
           FROM moved ORDER BY dead_at, id`,
          [ids, outboxIds],
        );
        return { count: ids.length, replayed: ids.map((id, index) => ({ id, outboxId: outboxIds[index] as string })) };
      });
    },

    async purge(filter = {}) {
      const where = whereClause(filter, 'purge');
      const limit = checkLimit(filter.limit ?? Number.MAX_SAFE_INTEGER, 'purge', Number.MAX_SAFE_INTEGER);
      if (filter.dryRun) {
        const { rows } = await pool.query(`SELECT count(*)::bigint AS n FROM ${s}.dead_letters WHERE ${where.sql}`, where.values);
        return Math.min(limit, Number(rows[0].n));
      }
      let total = 0;
      while (total < limit) {
        const batch = Math.min(PURGE_BATCH, limit - total);
        const result = await pool.query(
          `DELETE FROM ${s}.dead_letters WHERE id IN (
             SELECT id FROM ${s}.dead_letters WHERE ${where.sql} ORDER BY dead_at, id LIMIT ${batch} FOR UPDATE SKIP LOCKED)`,
          where.values,
        );
        const deleted = result.rowCount ?? 0;
        total += deleted;
        if (deleted < batch) break;
      }
      return total;
    },
  };
}

const FILTER_FIELDS = new Set(['ids', 'topic', 'key', 'reason', 'deadAfter', 'deadBefore']);
const CALL_FIELDS: Record<string, readonly string[]> = {
  list: ['limit'],
  count: [],
  replay: ['limit', 'newIds', 'dryRun'],
  purge: ['limit', 'dryRun'],
};

function whereClause(filter: DeadLetterFilter, call: string, alias?: string): { sql: string; values: unknown[] } {
  const problems: Problem[] = [];
  // A misspelt filter must never widen a purge or a replay to everything.
  const allowed = new Set([...FILTER_FIELDS, ...(CALL_FIELDS[call] ?? [])]);
  for (const field of Object.keys(filter)) {
    if (!allowed.has(field)) problems.push({ field, message: `is not a ${call} option; allowed: ${[...allowed].join(', ')}` });
  }
  const column = (name: string): string => (alias === undefined ? name : `${alias}.${name}`);
  const conditions: string[] = ['true'];
  const values: unknown[] = [];
  const add = (sql: (placeholder: string) => string, value: unknown): void => {
    values.push(value);
    conditions.push(sql(`$${values.length}`));
  };
  if (filter.ids !== undefined) {
    const bad = Array.isArray(filter.ids) ? filter.ids.filter((id) => !isUuid(id)) : ['(not an array)'];
    if (bad.length > 0) problems.push({ field: 'ids', message: `must be message ids (UUIDs); not ids: ${bad.slice(0, 3).join(', ')}` });
    else add((p) => `${column('id')} = ANY(${p}::uuid[])`, filter.ids);
  }
  if (filter.topic !== undefined) {
    const issue = patternProblem(filter.topic);
    if (issue !== undefined) problems.push({ field: 'topic', message: issue });
    else add((p) => `${column('topic')} ~ ${p}`, parsePattern(filter.topic).toPostgresRegex());
  }
  if (filter.key !== undefined) add((p) => `${column('key')} = ${p}`, filter.key);
  if (filter.reason !== undefined) {
    if (!REASONS.has(filter.reason)) problems.push({ field: 'reason', message: `must be one of ${[...REASONS].join(', ')}` });
    else add((p) => `${column('reason')} = ${p}`, filter.reason);
  }
  for (const [field, op] of [['deadAfter', '>='], ['deadBefore', '<']] as const) {
    const value = filter[field];
    if (value === undefined) continue;
    if (!(value instanceof Date) || !Number.isFinite(value.getTime())) problems.push({ field, message: 'must be a valid Date' });
    else add((p) => `${column('dead_at')} ${op} ${p}`, value);
  }
  if (problems.length > 0) throw new ValidationError(`dead letters: ${call}`, problems);
  return { sql: conditions.join(' AND '), values };
}

function checkLimit(limit: unknown, call: string, max = MAX_LIMIT): number {
  if (!Number.isSafeInteger(limit) || (limit as number) < 1 || (limit as number) > max) {
    throw new ValidationError(`dead letters: ${call}`, [{ field: 'limit', message: `must be an integer from 1 to ${max}, got ${String(limit)}` }]);
  }
  return limit as number;
}

interface DeadLetterRow {
  id: string;
  topic: string;
  key: string | null;
  reason: DeadReason;
  attempts: number;
  created_at: Date;
  dead_at: Date;
  last_error: string | null;
  payload: Buffer;
  content_type: string;
  headers: Record<string, string>;
  correlation_id: string | null;
  reply_to: string | null;
  errors: ErrorEntry[];
  first_attempt_at: Date | null;
  last_attempt_at: Date | null;
}

function toSummary(row: DeadLetterRow): DeadLetterSummary {
  return {
    id: row.id,
    topic: row.topic,
    key: row.key,
    reason: row.reason,
    attempts: row.attempts,
    createdAt: row.created_at,
    deadAt: row.dead_at,
    lastError: row.last_error,
  };
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    ...toSummary(row),
    payload: row.payload,
    contentType: row.content_type,
    headers: row.headers,
    correlationId: row.correlation_id,
    replyTo: row.reply_to,
    errors: row.errors,
    firstAttemptAt: row.first_attempt_at,
    lastAttemptAt: row.last_attempt_at,
  };
}
