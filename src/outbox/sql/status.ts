/**
 * Status queries: what `postbox status`, `postbox doctor` and the relay's metrics read. Each is
 * one scan of a hot table, fine for a command or a scrape every few seconds, not for a loop.
 */

/**
 * Per topic: rows by state, and the age of the oldest due row (leased or not: it is not published yet).
 * States: in-flight (leased now), retrying (failed before, waiting or due), scheduled (first
 * attempt not yet due: deliverAt/delayMs), ready (due, never attempted, waiting for a relay).
 */
export function topicCountsSql(s: string): string {
  return `
SELECT o.topic,
       count(*) FILTER (WHERE l.seq IS NOT NULL)::int                                          AS in_flight,
       count(*) FILTER (WHERE l.seq IS NULL AND o.attempts > 0)::int                            AS retrying,
       count(*) FILTER (WHERE l.seq IS NULL AND o.attempts = 0 AND o.available_at > now())::int AS scheduled,
       count(*) FILTER (WHERE l.seq IS NULL AND o.attempts = 0 AND o.available_at <= now())::int AS ready,
       (extract(epoch FROM now() - min(o.created_at) FILTER (WHERE o.available_at <= now())) * 1000)::float8 AS oldest_due_age_ms
  FROM ${s}.outbox o
  LEFT JOIN ${s}.outbox_leases l ON l.seq = o.seq AND l.until > now()
 GROUP BY o.topic`;
}

export function deadCountsSql(s: string): string {
  return `SELECT topic, count(*)::int AS dead FROM ${s}.dead_letters GROUP BY topic`;
}

export function relaysSql(s: string): string {
  return `SELECT id, hostname, pid, transport, started_at, heartbeat_at, now() AS now FROM ${s}.relays ORDER BY started_at`;
}
