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
