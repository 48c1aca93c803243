/**
 * The Redis connection the transport owns: made lazily (connection.ts openRedis, fail-fast
 * settings), reconnecting in the background by itself. acquire() hands out the client when it is
 * ready; while Redis is down it fails at once (the connection is known to be lost) or after at
 * most one connect attempt (first connect, or an attempt in progress), never waiting longer.
 */
import type { Redis } from 'ioredis';
import { toError } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import { redactText } from '../../src/redact.js';
import { openRedis, type ConnectionSource, type FailFastSettings } from './connection.js';
import { race } from './timing.js';

export interface RedisSession {
  /** The ready client, or throws an Error saying why not (the caller wraps it). */
  acquire(timeoutMs: number): Promise<Redis>;
  /** The client when it was made (ready or not). */
  current(): Redis | undefined;
  close(): Promise<void>;
}

const QUIT_GRACE_MS = 1_000;

export function createRedisSession(source: ConnectionSource, settings: FailFastSettings, target: string, logger: Logger | undefined): RedisSession {
  let client: Promise<Redis> | undefined;
  let made: Redis | undefined;
  let lastError: string | undefined;
  let lost = false;
  let closed = false;

  /** Called from ioredis's event listeners: a logger that throws must not become an uncaught exception. */
  function log(level: 'info' | 'warn', message: string): void {
    try {
      logger?.[level](message);
    } catch {
      // the logger's problem; the connection goes on
    }
  }

  function open(): Promise<Redis> {
    return (client ??= openRedis(source, settings).then((redis) => {
      made = redis;
      redis.on('error', (error: unknown) => {
        lastError = redactText(toError(error).message);
      });
      redis.on('close', () => {
        if (closed || lost) return;
        lost = true;
        log('warn', `bullmq transport: the connection to ${target} was lost${lastError === undefined ? '' : ` (${lastError})`}; reconnecting`);
      });
      redis.on('ready', () => {
        lastError = undefined;
        if (!lost) return;
        lost = false;
        log('info', `bullmq transport: the connection to ${target} is back`);
      });
      return redis;
    }));
  }

  /** Ready, or fails when this connect attempt fails (ioredis goes on retrying in the background), or after timeoutMs. */
  function waitReady(redis: Redis, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no connection within ${timeoutMs} ms${lastError === undefined ? '' : ` (${lastError})`}`)), timeoutMs);
      const onReady = (): void => done();
      const onEnd = (): void => done(new Error('the connection was closed'));
      const onClose = (): void => done(new Error(`the connect attempt failed${lastError === undefined ? '' : ` (${lastError})`}`));
      function done(error?: Error): void {
        clearTimeout(timer);
        redis.off('ready', onReady);
        redis.off('end', onEnd);
        redis.off('close', onClose);
        if (error === undefined) resolve();
        else reject(error);
      }
      redis.on('ready', onReady);
      redis.on('end', onEnd);
      redis.on('close', onClose);
    });
  }

  return {
    async acquire(timeoutMs) {
      if (closed) throw new Error('the transport was closed');
      const redis = await open();
      switch (redis.status) {
        case 'ready':
          return redis;
        case 'wait':
          redis.connect().catch(() => undefined); // failures arrive as events; ioredis keeps retrying
          await waitReady(redis, timeoutMs);
          return redis;
        case 'connecting':
        case 'connect':
          await waitReady(redis, timeoutMs);
          return redis;
        case 'end':
          throw new Error('the connection was closed');
        default: // reconnecting, close: Redis is known to be down; ioredis retries in the background
          throw new Error(`the connection is down and reconnecting${lastError === undefined ? '' : ` (last error: ${lastError})`}`);
      }
    },
    current: () => made,
    async close() {
      closed = true;
      const redis = made;
      if (redis === undefined || redis.status === 'end') return;
      if (redis.status === 'ready') {
        const quit = await race(redis.quit().catch(() => undefined), QUIT_GRACE_MS);
        if (quit.kind === 'value') return;
      }
      redis.disconnect();
    },
  };
}
