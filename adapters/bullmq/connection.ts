/**
 * The producer's Redis connection: where it comes from (a URL, ioredis options, or an ioredis
 * instance the user has), validation of that input (every problem at once, never echoing a
 * password), and the fail-fast ioredis settings the transport always uses on the connection it
 * makes and owns:
 *
 * - enableOfflineQueue: false: a command issued while Redis is unreachable fails at once instead
 *   of waiting in memory for a reconnect that may never come;
 * - maxRetriesPerRequest: 0 and autoResendUnfulfilledCommands: false: commands in flight when the
 *   connection drops fail at once (and are never sent again behind the relay's back);
 * - commandTimeout and connectTimeout: no command or connect attempt outlasts the transport's own
 *   timeouts (a frozen Redis, a black-holed network);
 * - retryStrategy: reconnects in the background with capped exponential backoff (equal jitter),
 *   forever, so the transport recovers by itself when Redis is back;
 * - lazyConnect: connects on connect() or the first publish.
 *
 * An ioredis instance that is passed in is duplicated with those settings (its host, credentials,
 * TLS and db are kept); the transport owns and closes the duplicate, never the instance.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { redactUrl } from '../../src/redact.js';
import { backoffDelayMs } from '../../src/retry/backoff.js';
import { Jitter } from '../../src/retry/types.js';
import type { ReconnectOptions } from '../shared/reconnect.js';
import { checkOptional, isPositiveInteger, isRecord, show, type Problems } from './validation.js';

/** A Redis URL (redis:// or rediss://), ioredis options, or an ioredis instance (duplicated, never closed). */
export type BullMQConnection = string | RedisOptions | Redis;

export type { ReconnectOptions } from '../shared/reconnect.js';

export type ConnectionSource =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'options'; readonly options: RedisOptions }
  | { readonly kind: 'instance'; readonly redis: Redis };

/** ioredis options the transport sets itself: a user value would defeat failing fast. */
const OWNED_REDIS_OPTIONS: Readonly<Record<string, string>> = {
  enableOfflineQueue: 'the transport sets enableOfflineQueue: false so that publishing fails fast while Redis is down; remove it',
  maxRetriesPerRequest: 'the transport sets maxRetriesPerRequest: 0 (commands in flight fail when the connection drops); remove it',
  autoResendUnfulfilledCommands: 'the transport sets autoResendUnfulfilledCommands: false; remove it',
  retryStrategy: 'reconnecting is configured with the reconnect option ({ initialMs, maxMs }); remove it',
  commandTimeout: 'use publishTimeoutMs instead (the transport sets commandTimeout from it)',
  connectTimeout: 'use connectTimeoutMs instead',
  lazyConnect: 'the transport connects on connect() or the first publish; remove it',
  keyPrefix: 'BullMQ does not support ioredis key prefixes; use the prefix option instead',
};

const URL_EXAMPLE = 'redis://user:password@host:6379/0 (rediss:// for TLS)';

export function checkConnection(input: unknown, field: string, problems: Problems): ConnectionSource | undefined {
  if (typeof input === 'string') return checkUrl(input, field, problems) ? { kind: 'url', url: input } : undefined;
  if (isRedisInstance(input)) {
    const before = problems.length;
    if ((input as { isCluster?: unknown }).isCluster === true) {
      problems.push({ field, message: 'is a Redis Cluster client; the BullMQ transport supports a standalone (or Sentinel) ioredis client only' });
    }
    if (input.options.keyPrefix) problems.push({ field, message: `has keyPrefix set, which BullMQ does not support; use the prefix option instead` });
    if (input.status === 'end') problems.push({ field, message: 'is an ioredis client that was already closed (quit/disconnect); pass an open one' });
    return problems.length === before ? { kind: 'instance', redis: input } : undefined;
  }
  if (isRecord(input)) {
    const before = problems.length;
    for (const [name, why] of Object.entries(OWNED_REDIS_OPTIONS)) {
      if (input[name] !== undefined) problems.push({ field: `${field}.${name}`, message: `is not accepted here: ${why}` });
    }
    checkOptional(input.host, (v) => typeof v === 'string' && v.length > 0, 'must be a host name', `${field}.host`, problems);
    checkOptional(input.port, (v) => isPositiveInteger(v) && v < 65536, 'must be a TCP port (1 to 65535)', `${field}.port`, problems);
    if (input.password !== undefined && typeof input.password !== 'string') {
      problems.push({ field: `${field}.password`, message: 'must be a string' }); // never shown: a secret even when mistyped
    }
    return problems.length === before ? { kind: 'options', options: input as RedisOptions } : undefined;
  }
  problems.push({ field, message: `must be a Redis URL such as ${URL_EXAMPLE}, ioredis options ({ host, port, ... }) or an ioredis instance, got ${show(input)}` });
  return undefined;
}

function checkUrl(url: string, field: string, problems: Problems): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    problems.push({ field, message: `does not parse as a URL (${redactUrl(url)}); use the form ${URL_EXAMPLE}` });
    return false;
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    problems.push({ field, message: `must use the redis:// or rediss:// scheme, got ${JSON.stringify(parsed.protocol)} in ${redactUrl(url)}` });
    return false;
  }
  if (parsed.hostname === '') {
    problems.push({ field, message: `has no host name (${redactUrl(url)}); use the form ${URL_EXAMPLE}` });
    return false;
  }
  if (!parsed.username && !parsed.password && url.includes('@')) {
    problems.push({
      field,
      message: `has an '@' after its host (${redactUrl(url)}): credentials containing '/', '?', '#' or '@' must be percent-encoded (encodeURIComponent); use the form ${URL_EXAMPLE}`,
    });
    return false;
  }
  return true;
}

/** Structural check for an ioredis client (standalone or cluster). */
export function isRedisInstance(value: unknown): value is Redis {
  const v = value as Partial<Redis> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.duplicate === 'function' &&
    typeof v.defineCommand === 'function' &&
    typeof v.status === 'string' &&
    typeof v.options === 'object'
  );
}

/** Where the jobs go, for messages: the redacted URL, host:port, or the given client's address. */
export function describeSource(source: ConnectionSource): string {
  switch (source.kind) {
    case 'url':
      return `Redis at ${redactUrl(source.url)}`;
    case 'options':
      return `Redis at ${describeOptions(source.options)}`;
    case 'instance':
      return `Redis at ${describeOptions(source.redis.options)} (a duplicate of the given client)`;
  }
}

function describeOptions(options: RedisOptions): string {
  const o = options as { path?: string; host?: string; port?: number; sentinels?: unknown; name?: string };
  if (typeof o.path === 'string') return o.path;
  if (Array.isArray(o.sentinels)) return `sentinel master ${String(o.name)}`;
  return `${o.host ?? '127.0.0.1'}:${o.port ?? 6379}`;
}

export interface FailFastSettings {
  readonly connectTimeoutMs: number;
  readonly commandTimeoutMs: number;
  readonly reconnect: Required<ReconnectOptions>;
  readonly connectionName: string;
}

/** The core's capped exponential backoff, doubling, with equal jitter: half the delay fixed, half random. */
export function reconnectDelayMs(reconnect: Required<ReconnectOptions>, attempt: number, random: () => number = Math.random): number {
  return backoffDelayMs({ ...reconnect, multiplier: 2, jitter: Jitter.Equal }, attempt, random);
}

function failFastOptions(settings: FailFastSettings): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: settings.connectTimeoutMs,
    retryStrategy: (times: number) => reconnectDelayMs(settings.reconnect, times),
    lazyConnect: true,
    connectionName: settings.connectionName,
  };
}

/** The ioredis client the transport owns (loads ioredis only for a URL or options). */
export async function openRedis(source: ConnectionSource, settings: FailFastSettings): Promise<Redis> {
  const overrides = failFastOptions(settings);
  if (source.kind === 'instance') return source.redis.duplicate(overrides);
  const { Redis: RedisClient } = await import('ioredis');
  return source.kind === 'url'
    ? new RedisClient(source.url, { ...overrides })
    : new RedisClient({ ...source.options, ...overrides });
}
