/**
 * Settles a claim in one round trip. $1 is the claim's lease token: its leases are deleted first,
 * and only the rows it still held are touched, so a relay whose lease expired and was taken over
 * (even by itself) changes nothing.
 *
 * - published ($2 ids): deleted, or also copied to outbox_published when retainPublished.
 * - retried ($3 ids, $4 delay ms, $5 error entries): the failed attempt is counted, the error
 *   appended, and the row is available again after the delay; its key stays blocked until then.
 * - dead ($6 ids, $7 reasons, $8 error entries or null when nothing was sent): moved to
 *   dead_letters with the whole history.
 * - released ($9 ids): nothing to write: dropping the lease puts the message back, uncounted.
 *
 * One statement, one round trip, committed without waiting for the WAL flush: set_config(...,
 * true) lasts until the end of the statement's own transaction, whose commit record is written
 * before transaction-local settings are reset. Losing a settle in a crash only causes a republish.
 *
 * Rows are found with id = ANY(ids), never a join with unnest(): the planner misestimates such
 * joins and rescans the array per row. Per-row values are picked by array_position, linear in
 * the (small) number of failures.
 */
export function settleSql(s: string, retainPublished: boolean): string {
  const columns = 'id, topic, key, payload, content_type, headers, correlation_id, reply_to, created_at, attempts';
  const archive = retainPublished
    ? // attempts + 1: the attempt that published it counts too.
      `archived AS (INSERT INTO ${s}.outbox_published (${columns}) SELECT ${columns.replace(/attempts$/, 'attempts + 1')} FROM published),\n`
    : '';
  return `
WITH async_commit AS (
  SELECT set_config('synchronous_commit', 'off', true)
),
mine AS (
  DELETE FROM ${s}.outbox_leases WHERE token = $1 RETURNING seq, claimed_at
),
held AS (
  SELECT min(claimed_at) AS claimed_at FROM mine
),
published AS (
  DELETE FROM ${s}.outbox o
  WHERE o.id = ANY($2::uuid[]) AND o.seq IN (SELECT seq FROM mine)
  RETURNING ${retainPublished ? columns : 'o.id'}
),
${archive}retried AS (
  UPDATE ${s}.outbox o
  SET attempts = o.attempts + 1,
      available_at = now() + ($4::integer[])[array_position($3::uuid[], o.id)] * interval '1 millisecond',
      first_attempt_at = coalesce(o.first_attempt_at, (SELECT claimed_at FROM held)),
      last_attempt_at = (SELECT claimed_at FROM held),
      errors = o.errors || jsonb_build_array(($5::jsonb[])[array_position($3::uuid[], o.id)])
  WHERE o.id = ANY($3::uuid[]) AND o.seq IN (SELECT seq FROM mine)
  RETURNING o.id
),
died AS (
  DELETE FROM ${s}.outbox o
  WHERE o.id = ANY($6::uuid[]) AND o.seq IN (SELECT seq FROM mine)
  RETURNING o.id, o.topic, o.key, o.payload, o.content_type, o.headers, o.correlation_id, o.reply_to,
            o.created_at, o.first_attempt_at,
            ($8::jsonb[])[array_position($6::uuid[], o.id)] AS error,
            ($7::text[])[array_position($6::uuid[], o.id)] AS reason,
            o.attempts, o.errors
),
buried AS (
  INSERT INTO ${s}.dead_letters
    (id, topic, key, payload, content_type, headers, correlation_id, reply_to, created_at, attempts,
     errors, first_attempt_at, last_attempt_at, reason)
  SELECT d.id, d.topic, d.key, d.payload, d.content_type, d.headers, d.correlation_id, d.reply_to, d.created_at,
         -- An error entry means this claim made an attempt; none means it gave up before sending.
         d.attempts + CASE WHEN d.error IS NULL THEN 0 ELSE 1 END,
         CASE WHEN d.error IS NULL THEN d.errors ELSE d.errors || jsonb_build_array(d.error) END,
         CASE WHEN d.error IS NULL THEN d.first_attempt_at ELSE coalesce(d.first_attempt_at, h.claimed_at) END,
         CASE WHEN d.error IS NULL THEN (SELECT max((e ->> 'at')::timestamptz) FROM jsonb_array_elements(d.errors) e) ELSE h.claimed_at END,
         d.reason
  FROM died d CROSS JOIN held h
  ON CONFLICT (id) DO UPDATE SET
    topic = excluded.topic, key = excluded.key, payload = excluded.payload, content_type = excluded.content_type,
    headers = excluded.headers, correlation_id = excluded.correlation_id, reply_to = excluded.reply_to,
    created_at = excluded.created_at, attempts = excluded.attempts, errors = excluded.errors,
    first_attempt_at = excluded.first_attempt_at, last_attempt_at = excluded.last_attempt_at,
    reason = excluded.reason, dead_at = now()
)
SELECT (SELECT count(*) FROM published)::integer AS published,
       (SELECT count(*) FROM retried)::integer AS retried,
       (SELECT count(*) FROM died)::integer AS dead,
       (SELECT count(*) FROM mine m JOIN ${s}.outbox o ON o.seq = m.seq WHERE o.id = ANY($9::uuid[]))::integer AS released,
       (SELECT count(*) FROM async_commit)::integer AS async_commit`;
}
