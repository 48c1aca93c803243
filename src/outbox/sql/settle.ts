/**
 * Settles a batch in one round trip. $1 is the batch's lease token (the claim's owner, unique per
 * claim): a row is settled only while that lease holds it, so a relay whose lease expired and
 * was taken over (even by itself) changes nothing.
 *
 * - published ($2 ids): deleted, or also copied to outbox_published when retainPublished.
 * - retried ($3 ids, $4 delay ms, $5 error entries): available again after the delay; the error
 *   is appended to the history. The key stays blocked until then.
 * - dead ($6 ids, $7 reasons, $8 error entries or null): moved to dead_letters with the history.
 * - released ($9 ids): put back without counting the attempt (nothing was sent).
 *
 * Rows are found with id = ANY(ids) only, never a join with unnest(): the planner misestimates
 * such joins (claimed_by = token looks ultra-selective) and rescans the array per row.
 * Per-row values are picked by array_position, linear in the (small) number of failures.
 */
export function settleSql(s: string, retainPublished: boolean): string {
  // Without retention the published rows are only counted: returning them whole costs per row.
  const columns = 'id, topic, key, payload, content_type, headers, correlation_id, reply_to, created_at, attempts';
  const publishedColumns = retainPublished ? columns : 'id';
  const archive = retainPublished
    ? `archived AS (INSERT INTO ${s}.outbox_published (${columns}) SELECT ${columns} FROM published),\n`
    : '';
  return `
WITH published AS (
  DELETE FROM ${s}.outbox o
  WHERE o.id = ANY($2::uuid[]) AND o.claimed_by = $1
  RETURNING ${publishedColumns}
),
${archive}retried AS (
  UPDATE ${s}.outbox o
  SET available_at = now() + ($4::integer[])[array_position($3::uuid[], o.id)] * interval '1 millisecond',
      claimed_by = NULL,
      errors = o.errors || jsonb_build_array(($5::jsonb[])[array_position($3::uuid[], o.id)])
  WHERE o.id = ANY($3::uuid[]) AND o.claimed_by = $1
  RETURNING o.id
),
died AS (
  DELETE FROM ${s}.outbox o
  WHERE o.id = ANY($6::uuid[]) AND o.claimed_by = $1
  RETURNING o.id, o.topic, o.key, o.payload, o.content_type, o.headers, o.correlation_id, o.reply_to,
            o.created_at, o.attempts, o.first_attempt_at, o.last_attempt_at,
            CASE WHEN ($8::jsonb[])[array_position($6::uuid[], o.id)] IS NULL THEN o.errors
                 ELSE o.errors || jsonb_build_array(($8::jsonb[])[array_position($6::uuid[], o.id)]) END AS errors,
            ($7::text[])[array_position($6::uuid[], o.id)] AS reason
),
buried AS (
  INSERT INTO ${s}.dead_letters
    (id, topic, key, payload, content_type, headers, correlation_id, reply_to, created_at, attempts,
     errors, first_attempt_at, last_attempt_at, reason)
  SELECT id, topic, key, payload, content_type, headers, correlation_id, reply_to, created_at, attempts,
         errors, first_attempt_at, last_attempt_at, reason
  FROM died
  ON CONFLICT (id) DO UPDATE SET
    topic = excluded.topic, key = excluded.key, payload = excluded.payload, content_type = excluded.content_type,
    headers = excluded.headers, correlation_id = excluded.correlation_id, reply_to = excluded.reply_to,
    created_at = excluded.created_at, attempts = excluded.attempts, errors = excluded.errors,
    first_attempt_at = excluded.first_attempt_at, last_attempt_at = excluded.last_attempt_at,
    reason = excluded.reason, dead_at = now()
),
released AS (
  UPDATE ${s}.outbox o
  SET attempts = o.attempts - 1, available_at = now(), claimed_by = NULL
  WHERE o.id = ANY($9::uuid[]) AND o.claimed_by = $1
  RETURNING o.id
)
SELECT (SELECT count(*) FROM published)::integer AS published,
       (SELECT count(*) FROM retried)::integer AS retried,
       (SELECT count(*) FROM died)::integer AS dead,
       (SELECT count(*) FROM released)::integer AS released`;
}
