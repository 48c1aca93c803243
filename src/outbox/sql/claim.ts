/**
 * Leases up to $1 messages for $2 ms to relay $3, oldest first, and returns them.
 *
 * Per-key order: a keyed message of an ordered topic is skipped while any message with the same
 * key is leased or waiting in backoff (attempts > 0 and not yet available again). Its earlier
 * messages that are available are picked in the same batch, in seq order, so a batch holds a
 * prefix of each key's queue. Claims of several relays are serialised by an advisory lock held
 * for the claim's short transaction (see claimLockSql), so two relays never split one key.
 *
 * A claimed row's attempts is incremented at once: a message that crashes its relay still
 * reaches maxAttempts. Re-claiming a row whose lease expired records that attempt's failure.
 *
 * The UPDATE finds the picked rows through ANY(ARRAY(...)) so it always uses the primary key:
 * a plain join lets the planner hash the whole backlog once batches get large.
 *
 * orderedSql(col) is the SQL test "this topic is ordered" from the retry policies, or undefined
 * when every topic is ordered.
 */
export function claimSql(s: string, orderedSql?: (topicColumn: string) => string): string {
  const unordered = orderedSql === undefined ? '' : ` OR NOT ${orderedSql('o.topic')}`;
  const blockerOrdered = orderedSql === undefined ? '' : ` AND ${orderedSql('e.topic')}`;
  return `
WITH picked AS (
  SELECT o.seq
  FROM ${s}.outbox o
  WHERE o.available_at <= now()
    AND (o.key IS NULL${unordered} OR NOT EXISTS (
      SELECT 1 FROM ${s}.outbox e
      WHERE e.key = o.key AND e.key IS NOT NULL AND e.attempts > 0 AND e.available_at > now()${blockerOrdered}))
  ORDER BY o.seq
  LIMIT $1
  FOR UPDATE SKIP LOCKED
)
UPDATE ${s}.outbox o
SET attempts = o.attempts + 1,
    available_at = now() + $2 * interval '1 millisecond',
    claimed_by = $3,
    first_attempt_at = coalesce(o.first_attempt_at, now()),
    last_attempt_at = now(),
    errors = CASE WHEN o.claimed_by IS NULL THEN o.errors ELSE o.errors || jsonb_build_array(jsonb_build_object(
      'at', now(), 'attempt', o.attempts, 'code', 'POSTBOX_LEASE_EXPIRED',
      'message', 'attempt ' || o.attempts || ' did not finish before the lease of relay ' || o.claimed_by
                 || ' expired (the relay crashed, stalled or lost its database connection)')) END
WHERE o.seq = ANY(ARRAY(SELECT seq FROM picked))
RETURNING o.seq::text AS seq, o.id::text AS id, o.topic, o.key, o.payload, o.content_type, o.headers,
          o.correlation_id, o.reply_to, (extract(epoch FROM o.created_at) * 1000)::float8 AS created_at_ms, o.attempts,
          (o.errors -> -1 ->> 'delayMs')::integer AS previous_delay_ms`;
}

/** Serialises claims of every relay on this schema for the claim's transaction. */
export const claimLockSql = 'SELECT pg_advisory_xact_lock($1, $2)';
