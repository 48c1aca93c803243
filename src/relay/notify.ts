import { createHash } from 'node:crypto';
import type { ConnectionPool, PooledConnection } from '../db/queryable.js';
import { DEFAULT_SCHEMA, quoteIdent, schemaProblem } from '../db/schema.js';
import { ConfigError } from '../errors.js';
import { onEnqueued } from '../signals.js';

/**
 * Opt-in cross-process wake-up through LISTEN/NOTIFY.
 *
 * Why opt-in, and why not a trigger: a NOTIFY inside the producer's transaction takes a
 * database-wide lock at commit, which serialises every producer's commits (reports elsewhere:
 * a ceiling of a few hundred commits per second). Here the producer's transactions never
 * notify; a notifier in the producer process sends at most one NOTIFY per debounce window, on
 * its own connection, after enqueue() calls. The relay treats it as a hint and polls fast for a
 * while, because the hint can arrive before the producer's commit.
 */
export function notifyChannel(schema: string): string {
  // PostgreSQL truncates LISTEN names to 63 bytes but rejects longer pg_notify channels.
  const channel = `postbox_${schema}`;
  return channel.length <= 63 ? channel : `postbox_${createHash('sha256').update(schema).digest('hex').slice(0, 40)}`;
}

interface ListeningConnection extends PooledConnection {
  on(event: 'notification', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** Holds one pool connection in LISTEN; reconnects after errors. Returns the stop function. */
export function listenForWakeups(
  pool: ConnectionPool,
  schema: string,
  onWake: () => void,
  onError: (error: Error) => void,
): () => void {
  let stopped = false;
  let client: ListeningConnection | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;

  async function connect(): Promise<void> {
    try {
      const connection = (await pool.connect()) as ListeningConnection;
      if (typeof connection.on !== 'function') {
        connection.release();
        throw new ConfigError('relay options', [{ field: 'listen', message: 'needs a pg.Pool whose clients emit notification events' }]);
      }
      connection.on('notification', onWake);
      connection.on('error', (error) => {
        connection.release(error);
        if (client === connection) client = undefined;
        scheduleReconnect(error);
      });
      await connection.query(`LISTEN ${quoteIdent(notifyChannel(schema))}`);
      if (stopped) {
        connection.release(true);
        return;
      }
      client = connection;
      failures = 0;
      onWake(); // anything notified while we were not listening
    } catch (error) {
      scheduleReconnect(error as Error);
    }
  }

  function scheduleReconnect(error: Error): void {
    if (stopped) return;
    onError(error);
    failures++;
    retryTimer = setTimeout(() => void connect(), Math.min(10_000, 100 * 2 ** failures));
    retryTimer.unref();
  }

  void connect();
  return () => {
    stopped = true;
    clearTimeout(retryTimer);
    // Destroy rather than return a connection that is in LISTEN state.
    client?.release(true);
    client = undefined;
  };
}

export interface NotifierOptions {
  readonly pool: ConnectionPool;
  readonly schema?: string;
  /** At most one NOTIFY per window, sent at its end. Default 20 ms. */
  readonly debounceMs?: number;
}

/**
 * Sends a debounced NOTIFY after enqueue() calls in this process, for relays started with
 * `listen: true` in other processes. Returns the stop function.
 */
export function createNotifier(options: NotifierOptions): { stop(): void } {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  const problem = schemaProblem(schema);
  if (problem !== undefined) throw new ConfigError('notifier options', [{ field: 'schema', message: problem }]);
  const debounceMs = options.debounceMs ?? 20;
  let timer: NodeJS.Timeout | undefined;
  const send = (): void => {
    timer = undefined;
    options.pool.query('SELECT pg_notify($1, $2)', [notifyChannel(schema), '']).catch(() => {
      /* a lost hint costs latency only: relays still poll */
    });
  };
  const unsubscribe = onEnqueued(schema, () => {
    timer ??= setTimeout(send, debounceMs);
  });
  return {
    stop() {
      unsubscribe();
      clearTimeout(timer);
    },
  };
}
