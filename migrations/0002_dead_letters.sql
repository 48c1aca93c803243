-- Messages the relay gave up on, with their full history. Replay moves a row back to the outbox.
CREATE TABLE :POSTBOX_SCHEMA.dead_letters (
  id               uuid        PRIMARY KEY,
  topic            text        NOT NULL,
  key              text,
  payload          bytea       NOT NULL,
  content_type     text        NOT NULL,
  headers          jsonb       NOT NULL,
  correlation_id   text,
  reply_to         text,
  created_at       timestamptz NOT NULL,
  attempts         integer     NOT NULL,
  errors           jsonb       NOT NULL,
  first_attempt_at timestamptz,
  last_attempt_at  timestamptz,
  -- max-attempts | max-age | permanent-error | unroutable
  reason           text        NOT NULL,
  dead_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_dead_at_idx ON :POSTBOX_SCHEMA.dead_letters (dead_at, id);
CREATE INDEX dead_letters_topic_idx ON :POSTBOX_SCHEMA.dead_letters (topic, dead_at);
