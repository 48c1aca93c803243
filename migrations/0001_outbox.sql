-- The outbox: one row per message waiting to be published.
-- Rows leave this table when they are published (deleted, or moved to outbox_published when a
-- retention window is configured) or dead-lettered (moved to dead_letters), so the hot table and
-- its indexes hold only pending work. A message that is published at the first attempt is
-- written once (the producer's INSERT) and deleted once: leases live in outbox_leases.
CREATE TABLE :POSTBOX_SCHEMA.outbox (
  seq              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id               uuid        NOT NULL,
  topic            text        NOT NULL,
  key              text,
  payload          bytea       NOT NULL,
  content_type     text        NOT NULL,
  headers          jsonb       NOT NULL DEFAULT '{}'::jsonb,
  correlation_id   text,
  reply_to         text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- When the row may next be claimed: deliverAt, or the end of a backoff.
  available_at     timestamptz NOT NULL DEFAULT now(),
  -- Attempts that failed or never finished (a lease that expired), so a crash loop still ends.
  -- The attempt in progress is attempts + 1.
  attempts         integer     NOT NULL DEFAULT 0,
  -- Every failed attempt: [{ at, attempt, message, code?, delayMs? }].
  errors           jsonb       NOT NULL DEFAULT '[]'::jsonb,
  first_attempt_at timestamptz,
  last_attempt_at  timestamptz,
  CONSTRAINT outbox_id_key UNIQUE (id)
);

-- Blocking check of the claim: keyed rows waiting in backoff. Only keyed rows that failed are in
-- it, so it stays tiny even with a large backlog.
CREATE INDEX outbox_attempted_key_idx ON :POSTBOX_SCHEMA.outbox (key) WHERE attempts > 0 AND key IS NOT NULL;

-- Leases: which claim holds which message, until when. UNLOGGED: the relay's bookkeeping writes
-- no WAL. A database crash empties it, which only makes the messages that were in flight
-- claimable again (published twice at worst, never lost); a lease that expires does the same.
CREATE UNLOGGED TABLE :POSTBOX_SCHEMA.outbox_leases (
  seq        bigint      PRIMARY KEY,
  -- The message's key while it holds it (ordered topics), else NULL: blocks the key's others.
  key        text,
  -- Unique per claim (relay id and claim number): only the holder settles.
  token      text        NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  until      timestamptz NOT NULL
);
CREATE INDEX outbox_leases_key_idx ON :POSTBOX_SCHEMA.outbox_leases (key) WHERE key IS NOT NULL;
CREATE INDEX outbox_leases_token_idx ON :POSTBOX_SCHEMA.outbox_leases (token);

-- Published messages kept for a retention window (only when the relay is configured to keep them).
CREATE TABLE :POSTBOX_SCHEMA.outbox_published (
  id             uuid        NOT NULL,
  topic          text        NOT NULL,
  key            text,
  payload        bytea       NOT NULL,
  content_type   text        NOT NULL,
  headers        jsonb       NOT NULL,
  correlation_id text,
  reply_to       text,
  created_at     timestamptz NOT NULL,
  attempts       integer     NOT NULL,
  published_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_published_published_at_idx ON :POSTBOX_SCHEMA.outbox_published (published_at);

-- Producer-side dedup: (topic, idempotency key) -> the first message's id, until expires_at.
-- Kept apart from the outbox so dedup outlives the outbox row.
CREATE TABLE :POSTBOX_SCHEMA.idempotency_keys (
  topic           text        NOT NULL,
  idempotency_key text        NOT NULL,
  message_id      uuid        NOT NULL,
  expires_at      timestamptz NOT NULL,
  PRIMARY KEY (topic, idempotency_key)
);
CREATE INDEX idempotency_keys_expires_at_idx ON :POSTBOX_SCHEMA.idempotency_keys (expires_at);
