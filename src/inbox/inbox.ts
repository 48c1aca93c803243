import { withTransaction, type ConnectionPool, type Queryable } from '../db/queryable.js';
import { DEFAULT_SCHEMA, quoteIdent, schemaProblem } from '../db/schema.js';
import { ConfigError, ValidationError } from '../errors.js';

/**
 * Consumer-side dedup: (consumer, message id) is recorded in the same transaction as the
 * handler's side effects, so each message's effects happen exactly once per consumer even
 * when the broker redelivers it.
 */
export interface Inbox {
  /**
   * Opens a transaction, records (consumer, messageId) and runs fn inside it. When the pair is
   * already recorded, fn does not run and the result is { duplicate: true }. A concurrent
   * delivery of the same message waits for the first to commit or roll back.
   */
  process<T>(consumer: string, messageId: string, fn: (tx: Queryable) => Promise<T>): Promise<InboxResult<T>>;
  /** True when the pair is recorded (for tests and diagnostics). */
  has(consumer: string, messageId: string): Promise<boolean>;
  /** Deletes records older than olderThanMs in batches of batchSize; returns how many were deleted. */
  cleanup(options: { olderThanMs: number; batchSize?: number; maxBatches?: number }): Promise<number>;
}

export type InboxResult<T> = { readonly duplicate: true } | { readonly duplicate: false; readonly value: T };

export interface InboxOptions {
  readonly pool: ConnectionPool;
  readonly schema?: string;
}

export function createInbox(options: InboxOptions): Inbox {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const problem = schemaProblem(schema);
  if (problem !== undefined) throw new ConfigError('inbox options', [{ field: 'schema', message: problem }]);
  const table = `${quoteIdent(schema)}.inbox`;
  const { pool } = options;

  const insert = `INSERT INTO ${table} (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1`;

  return {
    async process(consumer, messageId, fn) {
      checkArguments(consumer, messageId);
      return withTransaction(pool, async (tx) => {
        const recorded = await tx.query(insert, [consumer, messageId]);
        if (recorded.rows.length === 0) return { duplicate: true } as const;
        return { duplicate: false, value: await fn(tx) } as const;
      });
    },

    async has(consumer, messageId) {
      const { rows } = await pool.query(`SELECT 1 FROM ${table} WHERE consumer = $1 AND message_id = $2`, [
        consumer,
        messageId,
      ]);
      return rows.length > 0;
    },

    async cleanup({ olderThanMs, batchSize = 1000, maxBatches = 100 }) {
      const sql = `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM ${table} WHERE processed_at < now() - $1 * interval '1 millisecond' LIMIT $2))`;
      let total = 0;
      for (let i = 0; i < maxBatches; i++) {
        const result = await pool.query(sql, [olderThanMs, batchSize]);
        const deleted = result.rowCount ?? 0;
        total += deleted;
        if (deleted < batchSize) break;
      }
      return total;
    },
  };
}

function checkArguments(consumer: unknown, messageId: unknown): void {
  const problems = [];
  if (typeof consumer !== 'string' || consumer.length === 0) {
    problems.push({ field: 'consumer', message: 'must be a non-empty string naming the consumer (the dedup scope)' });
  }
  if (typeof messageId !== 'string' || messageId.length === 0) {
    problems.push({
      field: 'messageId',
      message: 'must be a non-empty string; messages without an id cannot be deduplicated (publish them through postbox, which sets one)',
    });
  }
  if (problems.length > 0) throw new ValidationError('inbox', problems);
}
