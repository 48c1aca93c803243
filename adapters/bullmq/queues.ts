/**
 * The queues the transport adds jobs to, by name: the given ones (used as they are, never closed),
 * and the ones it creates on its own connection (closed by close(); that leaves the connection
 * itself open: it is shared by all of them and closed by the session).
 *
 * A created Queue whose start-up failed (BullMQ checks the Redis version once, when the queue is
 * made; if Redis went away at that moment the Queue stays broken) is dropped and made again.
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface QueueRegistry {
  /** A given queue of that name, or undefined. */
  given(name: string): Queue | undefined;
  /** The queue of that name: a given one, or one made on `redis` (once). */
  get(name: string, redis: Redis): Queue;
  close(): Promise<void>;
}

export function createQueueRegistry(given: ReadonlyMap<string, Queue>, prefix: string): QueueRegistry {
  const created = new Map<string, Queue>();
  const retired = new Set<Promise<void>>();

  function retire(name: string, queue: Queue): void {
    if (created.get(name) !== queue) return;
    created.delete(name);
    const closing = queue.close().catch(() => undefined);
    retired.add(closing);
    void closing.finally(() => retired.delete(closing));
  }

  return {
    given: (name) => given.get(name),
    get(name, redis) {
      const existing = given.get(name) ?? created.get(name);
      if (existing !== undefined) return existing;
      const queue = new Queue(name, { connection: redis, prefix });
      queue.on('error', () => undefined); // reported per publish; an 'error' event without a listener would throw
      created.set(name, queue);
      queue.waitUntilReady().catch(() => retire(name, queue));
      return queue;
    },
    async close() {
      const queues = [...created.values()];
      created.clear();
      await Promise.all([...queues.map((q) => q.close().catch(() => undefined)), ...retired]);
    },
  };
}
