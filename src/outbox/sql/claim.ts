/**
 * Leases up to $1 messages for $2 ms under token $3, oldest first, and returns them with the
 * attempt they are claimed for.
 *
 * Leases live in the UNLOGGED outbox_leases table: claiming writes no WAL and leaves the message
 * row alone (it is written again only when an attempt fails). A lease that expired is taken over:
 * its attempt never finished (the relay crashed or stalled), so it is counted and recorded in the
 * history (POSTBOX_LEASE_EXPIRED), and a message that keeps crashing its relay still reaches
 * maxAttempts.
 *
 * Per-key order: a keyed message of an ordered topic is skipped while its key is leased by
 * anyone or while a message of its key waits in backoff. Its available messages are picked in the
 * same claim, in seq order, so a claim holds a prefix of each key's queue. Claims of several
 * relays are serialised by an advisory lock held for the claim's short transaction (see
 * claimTransactionSql), so two relays never split one key.
 *
 * orderedSql(col) is the SQL test "this topic is ordered" from the retry policies, or undefined
 * when every topic is ordered.
 */
export function claimSql(
  s: string,
  orderedSql?: (topicColumn: string) => string,
  values: { limit: string; leaseMs: string; token: string } = { limit: '$1', leaseMs: '$2', token: '$3' },
): string {
  const ordered = (column: string): string => (orderedSql === undefined ? 'true' : orderedSql(column));
  const unordered = orderedSql === undefined ? '' : ` OR NOT ${orderedSql('o.topic')}`;
  const blockerOrdered = orderedSql === undefined ? '' : ` AND ${orderedSql('e.topic')}`;
  return `
WITH picked AS (
  SELECT o.seq, CASE WHEN o.key IS NOT NULL AND ${ordered('o.topic')} THEN o.key END AS lease_key
  FROM ${s}.outbox o
  WHERE o.available_at <= now()
    AND NOT EXISTS (SELECT 1 FROM ${s}.outbox_leases l WHERE l.seq = o.seq AND l.until > now())
    AND (o.key IS NULL${unordered} OR (
      NOT EXISTS (SELECT 1 FROM ${s}.outbox_leases h WHERE h.key = o.key AND h.until > now())
      AND NOT EXISTS (
        SELECT 1 FROM ${s}.outbox e
        WHERE e.key = o.key AND e.key IS NOT NULL AND e.attempts > 0 AND e.available_at > now()${blockerOrdered})))
  ORDER BY o.seq
  LIMIT ${values.limit}
  FOR UPDATE OF o SKIP LOCKED
),
expired AS (
  SELECT l.seq, l.token, l.claimed_at FROM ${s}.outbox_leases l WHERE l.seq IN (SELECT seq FROM picked)
),
leased AS (
  INSERT INTO ${s}.outbox_leases (seq, key, token, until)
  SELECT seq, lease_key, ${values.token}, now() + ${values.leaseMs} * interval '1 millisecond' FROM picked
  ON CONFLICT (seq) DO UPDATE
    SET key = excluded.key, token = excluded.token, claimed_at = now(), until = excluded.until
),
abandoned AS (
  UPDATE ${s}.outbox o
  SET attempts = o.attempts + 1,
      first_attempt_at = coalesce(o.first_attempt_at, x.claimed_at),
      last_attempt_at = x.claimed_at,
      errors = o.errors || jsonb_build_array(jsonb_build_object(
        'at', now(), 'attempt', o.attempts + 1, 'code', 'POSTBOX_LEASE_EXPIRED',
        'message', 'attempt ' || (o.attempts + 1) || ' did not finish before the lease of ' || x.token
                   || ' expired (the relay crashed, stalled or lost its database connection)'))
  FROM expired x
  WHERE o.seq = x.seq
  RETURNING o.seq, o.attempts
)
SELECT o.seq::text AS seq, o.id::text AS id, o.topic, o.key, o.payload, o.content_type, o.headers,
       o.correlation_id, o.reply_to, (extract(epoch FROM o.created_at) * 1000)::float8 AS created_at_ms,
       coalesce(a.attempts, o.attempts) + 1 AS attempt,
       CASE WHEN a.seq IS NULL THEN (o.errors -> -1 ->> 'delayMs')::integer END AS previous_delay_ms
FROM ${s}.outbox o
LEFT JOIN abandoned a ON a.seq = o.seq
WHERE o.seq = ANY(ARRAY(SELECT seq FROM picked))`;
}

/**
 * The whole claim transaction as one simple-protocol query (one round trip): the advisory lock
 * that serialises claims of every relay on this schema, then the claim, whose snapshot is taken
 * after the lock is held (each statement of a simple query gets its own snapshot under READ
 * COMMITTED, so it sees the leases of the claim that held the lock before). The claim commits
 * without waiting for the WAL flush: a lost claim only leads to a republish.
 * Values are inlined: limit and leaseMs must be safe integers; the token is quoted.
 */
export function claimTransactionSql(
  s: string,
  orderedSql: ((topicColumn: string) => string) | undefined,
  lock: readonly [number, number],
  claim: { limit: number; leaseMs: number; token: string },
): string {
  for (const [name, value] of [['limit', claim.limit], ['leaseMs', claim.leaseMs], ...lock.map((v, i) => [`lock[${i}]`, v] as const)] as const) {
    if (!Number.isSafeInteger(value)) throw new TypeError(`claim: ${name} must be a safe integer, got ${String(value)}`);
  }
  const statement = claimSql(s, orderedSql, {
    limit: String(claim.limit),
    leaseMs: String(claim.leaseMs),
    token: quoteLiteral(claim.token),
  });
  return `BEGIN; SET LOCAL synchronous_commit TO off; SELECT pg_advisory_xact_lock(${lock[0]}, ${lock[1]}); ${statement}; COMMIT`;
}

/** A SQL string literal; E'' form when backslashes are present, so it is right whatever standard_conforming_strings says. */
export function quoteLiteral(value: string): string {
  const quoted = value.replace(/'/g, "''");
  return value.includes('\\') ? ` E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}
