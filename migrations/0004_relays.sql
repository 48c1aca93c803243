-- Relays that are running (or were, until their heartbeat went stale): for status and diagnostics.
CREATE TABLE :POSTBOX_SCHEMA.relays (
  id           text        PRIMARY KEY,
  hostname     text        NOT NULL,
  pid          integer     NOT NULL,
  transport    text        NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now()
);
