import type { ConnectionPool, QueryResult } from '../db/queryable.js';
import { quoteIdent } from '../db/schema.js';
import { LockPurpose, schemaLockKey } from '../db/locks.js';
import type { ClaimedMessage, CleanupCounts, CleanupOptions, RelayInfo, RelayStore, SettleCounts, Settlement } from '../relay/store.js';
import { claimTransactionSql } from './sql/claim.js';
import { settleSql } from './sql/settle.js';
import { heartbeatSql, unregisterRelaySql } from './sql/relays.js';
import {
  deleteExpiredIdempotencyKeysSql,
  deleteOldInboxSql,
  deleteOldPublishedSql,
  deleteStaleLeasesSql,
  deleteStaleRelaysSql,
} from './sql/maintenance.js';

export interface PgStoreOptions {
  readonly pool: ConnectionPool;
  readonly schema: string;
  /** SQL test "this topic is ordered" (from the retry policies), or undefined when all are. */
  readonly orderedSql?: (topicColumn: string) => string;
}

interface ClaimRow {
  seq: string;
  id: string;
  topic: string;
  key: string | null;
  payload: Buffer;
  content_type: string;
  headers: Record<string, string>;
  correlation_id: string | null;
  reply_to: string | null;
  /** Epoch milliseconds: a number parses far faster than a timestamp string. */
  created_at_ms: number;
  attempt: number;
  previous_delay_ms: number | null;
}

/** The PostgreSQL RelayStore. Statements are built once per store. */
export function createPgStore(options: PgStoreOptions): RelayStore {
  const { pool } = options;
  const s = quoteIdent(options.schema);
  const lockKey = schemaLockKey(options.schema);
  const sql = {
    settle: settleSql(s, false),
    settleRetaining: settleSql(s, true),
    heartbeat: heartbeatSql(s),
    unregister: unregisterRelaySql(s),
    idempotencyKeys: deleteExpiredIdempotencyKeysSql(s),
    published: deleteOldPublishedSql(s),
    inbox: deleteOldInboxSql(s),
    relays: deleteStaleRelaysSql(s),
    leases: deleteStaleLeasesSql(s),
  };

  return {
    async claim(token, limit, leaseMs) {
      const text = claimTransactionSql(s, options.orderedSql, [LockPurpose.Claim, lockKey], { limit, leaseMs, token });
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        // One round trip: BEGIN; SET LOCAL; lock; claim; COMMIT. The claim's rows are the 4th result.
        const results = (await client.query(text)) as unknown as QueryResult[];
        return ((results[3]?.rows ?? []) as ClaimRow[]).map(toClaimed).sort(bySeq);
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw error;
      } finally {
        client.release(broken);
      }
    },

    async settle(token, settlement, { retainPublished }) {
      const { rows } = await pool.query(retainPublished ? sql.settleRetaining : sql.settle, settleValues(token, settlement));
      const { published, retried, dead, released } = rows[0] as SettleCounts;
      return { published, retried, dead, released };
    },

    async heartbeat(relay: RelayInfo) {
      await pool.query(sql.heartbeat, [relay.id, relay.hostname, relay.pid, relay.transport]);
    },

    async unregister(relayId) {
      await pool.query(sql.unregister, [relayId]);
    },

    async vacuum() {
      await pool.query(`VACUUM (SKIP_LOCKED) ${s}.outbox, ${s}.outbox_leases`);
    },

    async vacuumLeases() {
      await pool.query(`VACUUM (SKIP_LOCKED) ${s}.outbox_leases`);
    },

    async cleanup(cleanup: CleanupOptions): Promise<CleanupCounts> {
      const run = async (statement: string, olderThanMs: number): Promise<number> =>
        (await pool.query(statement, [olderThanMs, cleanup.batchSize])).rowCount ?? 0;
      return {
        idempotencyKeys: await run(sql.idempotencyKeys, 0),
        published: await run(sql.published, cleanup.retainPublishedMs),
        inbox: cleanup.inboxRetentionMs === undefined ? 0 : await run(sql.inbox, cleanup.inboxRetentionMs),
        relays: await run(sql.relays, cleanup.staleRelayMs),
        leases: await run(sql.leases, 0),
      };
    },
  };
}

function toClaimed(row: ClaimRow): ClaimedMessage {
  return {
    seq: row.seq,
    id: row.id,
    topic: row.topic,
    key: row.key,
    payload: row.payload,
    contentType: row.content_type,
    headers: row.headers,
    correlationId: row.correlation_id,
    replyTo: row.reply_to,
    attempt: row.attempt,
    createdAt: new Date(row.created_at_ms),
    previousDelayMs: row.previous_delay_ms,
  };
}

function bySeq(a: ClaimedMessage, b: ClaimedMessage): number {
  return a.seq.length - b.seq.length || (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0);
}

function settleValues(token: string, s: Settlement): unknown[] {
  return [
    token,
    s.published.map((r) => r.id),
    s.retried.map((r) => r.id),
    s.retried.map((r) => r.delayMs),
    s.retried.map((r) => JSON.stringify(r.error)),
    s.dead.map((r) => r.id),
    s.dead.map((r) => r.reason),
    s.dead.map((r) => (r.error === null ? null : JSON.stringify(r.error))),
    s.released.map((r) => r.id),
  ];
}
