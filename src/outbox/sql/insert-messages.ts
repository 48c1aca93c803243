/**
 * Inserts a batch of messages in one statement (arrays unnested in input order), honouring
 * idempotency keys: the first enqueue of (topic, idempotency key) wins until the key expires;
 * a later one inserts nothing and reports the first message's id. An id that is already
 * pending is not inserted twice.
 *
 * $1 ids, $2 topics, $3 keys, $4 payloads, $5 content types, $6 headers, $7 correlation ids,
 * $8 reply-tos, $9 idempotency keys, $10 deliver-at times, $11 delays (ms), $12 idempotency TTL (ms)
 * Returns one row per input, in order: id (the message's, or the earlier one's), inserted.
 */
export function insertMessagesSql(s: string): string {
  return `
WITH input AS (
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::text[], $6::jsonb[],
                       $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::bigint[])
    WITH ORDINALITY AS i(id, topic, key, payload, content_type, headers, correlation_id, reply_to,
                         idempotency_key, deliver_at, delay_ms, ord)
),
won_keys AS (
  INSERT INTO ${s}.idempotency_keys AS k (topic, idempotency_key, message_id, expires_at)
  SELECT topic, idempotency_key, id, now() + $12 * interval '1 millisecond'
  FROM input WHERE idempotency_key IS NOT NULL
  ON CONFLICT (topic, idempotency_key) DO UPDATE
    SET message_id = excluded.message_id, expires_at = excluded.expires_at
    WHERE k.expires_at <= now()
  RETURNING message_id
),
inserted AS (
  INSERT INTO ${s}.outbox (id, topic, key, payload, content_type, headers, correlation_id, reply_to, available_at)
  SELECT id, topic, key, payload, content_type, headers, correlation_id, reply_to,
         coalesce(deliver_at, now() + coalesce(delay_ms, 0) * interval '1 millisecond')
  FROM input
  WHERE idempotency_key IS NULL OR id IN (SELECT message_id FROM won_keys)
  ORDER BY ord
  ON CONFLICT (id) DO NOTHING
  RETURNING id
)
SELECT coalesce(
         CASE WHEN i.id IN (SELECT id FROM inserted) THEN i.id END,
         (SELECT k.message_id FROM ${s}.idempotency_keys k
           WHERE k.topic = i.topic AND k.idempotency_key = i.idempotency_key),
         CASE WHEN i.idempotency_key IS NULL THEN i.id END
       )::text AS id,
       i.id IN (SELECT id FROM inserted) AS inserted,
       i.topic, i.idempotency_key
FROM input i
ORDER BY i.ord`;
}

/** Second look for keys won by a transaction that committed while the insert waited on it. */
export function lookupIdempotencyKeysSql(s: string): string {
  return `
SELECT k.topic, k.idempotency_key, k.message_id::text AS id
FROM ${s}.idempotency_keys k
JOIN unnest($1::text[], $2::text[]) AS q(topic, idempotency_key)
  ON k.topic = q.topic AND k.idempotency_key = q.idempotency_key`;
}
