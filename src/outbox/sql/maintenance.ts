/**
 * Bounded cleanup statements: each deletes at most $2 rows older than its cut-off, so a large
 * table is cleaned in many short transactions instead of one long one that bloats and blocks.
 */
function boundedDelete(table: string, timeColumn: string): string {
  return `
DELETE FROM ${table} WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM ${table} WHERE ${timeColumn} < now() - $1 * interval '1 millisecond' LIMIT $2))`;
}

/** $1 is a grace period after expiry (0 is fine). */
export function deleteExpiredIdempotencyKeysSql(s: string): string {
  return boundedDelete(`${s}.idempotency_keys`, 'expires_at');
}

export function deleteOldPublishedSql(s: string): string {
  return boundedDelete(`${s}.outbox_published`, 'published_at');
}

export function deleteOldInboxSql(s: string): string {
  return boundedDelete(`${s}.inbox`, 'processed_at');
}

export function deleteStaleRelaysSql(s: string): string {
  return boundedDelete(`${s}.relays`, 'heartbeat_at');
}

/**
 * Expired leases whose message is gone (deleted by hand while leased). An expired lease of a
 * message that still exists is kept: the next claim counts it as an abandoned attempt.
 */
export function deleteStaleLeasesSql(s: string): string {
  return `
DELETE FROM ${s}.outbox_leases WHERE seq = ANY(ARRAY(
  SELECT l.seq FROM ${s}.outbox_leases l
  WHERE l.until < now() - $1 * interval '1 millisecond'
    AND NOT EXISTS (SELECT 1 FROM ${s}.outbox o WHERE o.seq = l.seq)
  LIMIT $2))`;
}
