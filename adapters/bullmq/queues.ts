/**
 * The queues the transport adds jobs to: the given ones (by name; used as they are, never closed),
 * and the ones it creates on its own connection, by key prefix and name (closed by close(); that
 * leaves the connection itself open: it is shared by all of them and closed by the session).
 *
 * A created Queue whose start-up failed (BullMQ checks the Redis version once, when the queue is
 * made; if Redis went away at that moment the Queue stays broken) is dropped and made again.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { prefixOf } from './job-route.js';

export interface QueueRegistry {
  /** A given queue of that name (and, when `prefix` is given, that key prefix), or undefined. */
  given(name: string, prefix?: string): Queue | undefined;
  /** The queue of that name in `prefix` (default: the transport's) made on `redis` (once). */
  get(name: string, redis: Redis, prefix?: string): Queue;
  close(): Promise<void>;
}

export function createQueueRegistry(given: ReadonlyMap<string, Queue>, defaultPrefix: string): QueueRegistry {
  const created = new Map<string, Queue>();
  const retired = new Set<Promise<void>>();

  function retire(key: string, queue: Queue): void {
    if (created.get(key) !== queue) return;
    created.delete(key);
    const closing = queue.close().catch(() => undefined);
    retired.add(closing);
    void closing.finally(() => retired.delete(closing));
  }

  return {
    given(name, prefix) {
      const queue = given.get(name);
      return queue === undefined || (prefix !== undefined && prefixOf(queue) !== prefix) ? undefined : queue;
    },
    get(name, redis, prefix = defaultPrefix) {
      const key = `${prefix}\u0000${name}`;
      const existing = created.get(key);
      if (existing !== undefined) return existing;
      const queue = new Queue(name, { connection: redis, prefix });
      queue.on('error', () => undefined); // reported per publish; an 'error' event without a listener would throw
      created.set(key, queue);
      queue.waitUntilReady().catch(() => retire(key, queue));
      return queue;
    },
    async close() {
      const queues = [...created.values()];
      created.clear();
      await Promise.all([...queues.map((q) => q.close().catch(() => undefined)), ...retired]);
    },
  };
}
