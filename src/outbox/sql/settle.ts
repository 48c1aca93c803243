/**
 * Settles a batch in one round trip. Each entry is guarded by (id, attempts, claimed_by = $1):
 * a relay whose lease expired and was taken over settles nothing.
 *
 * - published ($2 ids, $3 attempts): deleted, or copied to outbox_published when $14 (retain).
 * - retried ($4 ids, $5 attempts, $6 delay ms, $7 error entry): available again after the delay;
 *   the error is appended to the history. The key stays blocked until then.
 * - dead ($8 ids, $9 attempts, $10 reasons, $11 error entry or null): moved to dead_letters with
 *   the whole history.
 * - released ($12 ids, $13 attempts): put back without counting the attempt (nothing was sent).
 */
export function settleSql(s: string): string {
  return `
WITH published AS (
  DELETE FROM ${s}.outbox o
  USING unnest($2::uuid[], $3::integer[]) AS p(id, attempts)
  WHERE o.id = p.id AND o.attempts = p.attempts AND o.claimed_by = $1
  RETURNING o.id, o.topic, o.key, o.payload, o.content_type, o.headers, o.correlation_id, o.reply_to,
            o.created_at, o.attempts
),
archived AS (
  INSERT INTO ${s}.outbox_published
    (id, topic, key, payload, content_type, headers, correlation_id, reply_to, created_at, attempts)
  SELECT id, topic, key, payload, content_type, headers, correlation_id, reply_to, created_at, attempts
  FROM published WHERE $14::boolean
),
retried AS (
  UPDATE ${s}.outbox o
  SET available_at = now() + r.delay_ms * interval '1 millisecond',
      claimed_by = NULL,
      errors = o.errors || jsonb_build_array(r.error)
  FROM unnest($4::uuid[], $5::integer[], $6::integer[], $7::jsonb[]) AS r(id, attempts, delay_ms, error)
  WHERE o.id = r.id AND o.attempts = r.attempts AND o.claimed_by = $1
  RETURNING o.id
),
died AS (
  DELETE FROM ${s}.outbox o
  USING unnest($8::uuid[], $9::integer[], $10::text[], $11::jsonb[]) AS d(id, attempts, reason, error)
  WHERE o.id = d.id AND o.attempts = d.attempts AND o.claimed_by = $1
  RETURNING o.id, o.topic, o.key, o.payload, o.content_type, o.headers, o.correlation_id, o.reply_to,
            o.created_at, o.attempts, o.first_attempt_at, o.last_attempt_at,
            CASE WHEN d.error IS NULL THEN o.errors ELSE o.errors || jsonb_build_array(d.error) END AS errors,
            d.reason
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
  FROM unnest($12::uuid[], $13::integer[]) AS l(id, attempts)
  WHERE o.id = l.id AND o.attempts = l.attempts AND o.claimed_by = $1
  RETURNING o.id
)
SELECT (SELECT count(*) FROM published)::integer AS published,
       (SELECT count(*) FROM retried)::integer AS retried,
       (SELECT count(*) FROM died)::integer AS dead,
       (SELECT count(*) FROM released)::integer AS released`;
}
