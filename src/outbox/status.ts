import type { Queryable } from '../db/queryable.js';
import { DEFAULT_SCHEMA, quoteIdent } from '../db/schema.js';
import { deadCountsSql, relaysSql, topicCountsSql } from './sql/status.js';

/** One topic's messages by state. */
export interface TopicStatus {
  readonly topic: string;
  /** Due, never attempted, waiting for a relay. */
  readonly ready: number;
  /** First attempt not yet due (deliverAt / delayMs). */
  readonly scheduled: number;
  /** Failed before; waiting for their backoff or due again. */
  readonly retrying: number;
  /** Leased by a relay right now. */
  readonly inFlight: number;
  readonly dead: number;
  /** Age of the oldest due message not yet published, or null when none is due. */
  readonly oldestDueAgeMs: number | null;
}

export interface RelayStatus {
  readonly id: string;
  readonly hostname: string;
  readonly pid: number;
  readonly transport: string;
  readonly startedAt: Date;
  readonly heartbeatAt: Date;
  /** Heartbeat within `aliveWithinMs`. */
  readonly alive: boolean;
}

export interface OutboxStatus {
  /** Topics with pending or dead messages, by name. */
  readonly topics: readonly TopicStatus[];
  /** Totals over all topics. */
  readonly totals: Omit<TopicStatus, 'topic'>;
  readonly relays: readonly RelayStatus[];
}

export interface StatusOptions {
  readonly schema?: string;
  /** A relay whose heartbeat is older than this counts as not alive. Default 60 s (heartbeats come every 10 s by default). */
  readonly aliveWithinMs?: number;
}

interface CountRow {
  topic: string;
  in_flight: number;
  retrying: number;
  scheduled: number;
  ready: number;
  oldest_due_age_ms: number | null;
}

/** Reads the outbox's state: counts by topic and state, lag, dead letters and relays. Three queries. */
export async function readStatus(db: Queryable, options: StatusOptions = {}): Promise<OutboxStatus> {
  const s = quoteIdent(options.schema ?? DEFAULT_SCHEMA);
  const aliveWithinMs = options.aliveWithinMs ?? 60_000;
  const counts = await db.query(topicCountsSql(s));
  const dead = await db.query(deadCountsSql(s));
  const relays = await db.query(relaysSql(s));
  const now = relays.rows[0]?.now instanceof Date ? (relays.rows[0].now as Date).getTime() : Date.now();

  const byTopic = new Map<string, TopicStatus>();
  const empty = (topic: string): TopicStatus => ({ topic, ready: 0, scheduled: 0, retrying: 0, inFlight: 0, dead: 0, oldestDueAgeMs: null });
  for (const row of counts.rows as CountRow[]) {
    byTopic.set(row.topic, {
      ...empty(row.topic),
      ready: row.ready,
      scheduled: row.scheduled,
      retrying: row.retrying,
      inFlight: row.in_flight,
      oldestDueAgeMs: row.oldest_due_age_ms === null ? null : Math.max(0, Math.round(row.oldest_due_age_ms)),
    });
  }
  for (const row of dead.rows as Array<{ topic: string; dead: number }>) {
    byTopic.set(row.topic, { ...(byTopic.get(row.topic) ?? empty(row.topic)), dead: row.dead });
  }
  const topics = [...byTopic.values()].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  return {
    topics,
    totals: totalsOf(topics),
    relays: (relays.rows as Array<Record<string, any>>).map((row) => ({
      id: row.id,
      hostname: row.hostname,
      pid: Number(row.pid),
      transport: row.transport,
      startedAt: new Date(row.started_at),
      heartbeatAt: new Date(row.heartbeat_at),
      alive: now - new Date(row.heartbeat_at).getTime() <= aliveWithinMs,
    })),
  };
}

function totalsOf(topics: readonly TopicStatus[]): Omit<TopicStatus, 'topic'> {
  let oldest: number | null = null;
  const sum = { ready: 0, scheduled: 0, retrying: 0, inFlight: 0, dead: 0 };
  for (const t of topics) {
    sum.ready += t.ready;
    sum.scheduled += t.scheduled;
    sum.retrying += t.retrying;
    sum.inFlight += t.inFlight;
    sum.dead += t.dead;
    if (t.oldestDueAgeMs !== null) oldest = Math.max(oldest ?? 0, t.oldestDueAgeMs);
  }
  return { ...sum, oldestDueAgeMs: oldest };
}
