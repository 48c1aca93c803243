/**
 * The Redis connection of the worker side (worker, processor, dead-letter helpers, replay): a
 * redis:// URL or ioredis options (postbox opens the client and closes it again), or an ioredis
 * client the caller owns (used as it is, never closed; BullMQ duplicates it for its blocking reads).
 */
import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import type { Problem } from '../../src/errors.js';

/** How long a clean QUIT may take before the socket is simply closed (Redis may be down). */
const QUIT_TIMEOUT_MS = 2_000;

export type BullMQWorkerConnection = string | RedisOptions | Redis | Cluster;

export interface WorkerRedis {
  readonly client: Redis | Cluster;
  /** Closes the client when postbox opened it; leaves a caller's client alone. */
  close(): Promise<void>;
}

/** An ioredis client (or anything BullMQ takes as one: connect, disconnect and duplicate). */
export function isRedisClient(value: unknown): value is Redis | Cluster {
  if (typeof value !== 'object' || value === null) return false;
  const client = value as Record<string, unknown>;
  return ['connect', 'disconnect', 'duplicate'].every((name) => typeof client[name] === 'function');
}

/**
 * Pushes what is wrong with `value` as a connection. `blocking`: it feeds a BullMQ Worker, whose
 * blocking reads need maxRetriesPerRequest: null on a caller's client (BullMQ throws otherwise).
 */
export function checkConnection(value: unknown, field: string, problems: Problem[], blocking: boolean): void {
  if (value === undefined || value === null) {
    problems.push({ field, message: 'is required: a redis:// URL, ioredis options or an ioredis client' });
    return;
  }
  if (typeof value === 'string') {
    const problem = urlProblem(value);
    if (problem !== undefined) problems.push({ field, message: problem });
    return;
  }
  if (isRedisClient(value)) {
    const options = (value as { options?: { maxRetriesPerRequest?: unknown; keyPrefix?: unknown; redisOptions?: { keyPrefix?: unknown } } }).options;
    if (blocking && options !== undefined && options.maxRetriesPerRequest !== null && options.maxRetriesPerRequest !== undefined && !('redisOptions' in options)) {
      problems.push({
        field,
        message: `an ioredis client used by a BullMQ worker must be created with maxRetriesPerRequest: null (it has ${String(options.maxRetriesPerRequest)}); or pass a URL or options and postbox opens its own`,
      });
    }
    if (typeof options?.keyPrefix === 'string' && options.keyPrefix.length > 0) {
      problems.push({ field, message: 'an ioredis client with keyPrefix cannot be used by BullMQ; use the prefix option instead' });
    }
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push({ field, message: `must be a redis:// URL, ioredis options or an ioredis client, got ${typeof value}` });
  }
}

function urlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid URL; write it as redis://host:port (or rediss:// for TLS)';
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    return `must be a redis:// or rediss:// URL, got the scheme ${JSON.stringify(parsed.protocol)}`;
  }
  if (!parsed.username && !parsed.password && url.includes('@')) {
    return "has an '@' after its host: credentials containing '/', '?', '#' or '@' must be percent-encoded (encodeURIComponent)";
  }
  return undefined;
}

/** Admin calls (dead-letter helpers, replay) give up on a Redis that is down instead of waiting for it. */
const ADMIN_SETTINGS: RedisOptions = { maxRetriesPerRequest: 1, connectTimeout: 5_000, commandTimeout: 10_000 };

/**
 * The client to use: the caller's own, or one postbox opens, connecting on its first command. For
 * a worker (maxRetriesPerRequest: null, as BullMQ needs; the offline queue is kept so commands
 * wait out a reconnect); for `admin` calls with bounded waits, so a call fails when Redis is down.
 */
export function openWorkerRedis(connection: BullMQWorkerConnection, connectionName: string, purpose: 'worker' | 'admin' = 'worker'): WorkerRedis {
  if (isRedisClient(connection)) return { client: connection, close: async () => undefined };
  const settings: RedisOptions = purpose === 'admin' ? ADMIN_SETTINGS : { maxRetriesPerRequest: null };
  const client =
    typeof connection === 'string'
      ? new Redis(connection, { connectionName, ...settings, lazyConnect: true })
      : new Redis({ connectionName, ...connection, ...settings, lazyConnect: true });
  client.on('error', () => undefined); // reported through BullMQ's own clients; an owned client must not crash the process
  let closed: Promise<void> | undefined;
  return {
    client,
    close: () =>
      (closed ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, QUIT_TIMEOUT_MS)));
        await Promise.race([client.quit().then(() => undefined, () => undefined), timeout]);
        clearTimeout(timer);
        client.disconnect();
      })()),
  };
}
