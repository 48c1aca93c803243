-- Consumer-side dedup: a (consumer, message id) pair recorded in the handler's own transaction.
CREATE TABLE :POSTBOX_SCHEMA.inbox (
  consumer     text        NOT NULL,
  message_id   text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, message_id)
);
CREATE INDEX inbox_processed_at_idx ON :POSTBOX_SCHEMA.inbox (processed_at);
