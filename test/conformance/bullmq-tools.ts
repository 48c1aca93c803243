/**
 * Test tools for the BullMQ transport, shared by its conformance, integration and crash tests:
 * unique names, an admin that reads the jobs of a queue back (oldest first) and obliterates the
 * queues a test used, and job data as the transport-neutral ReceivedMessage.
 */
import { randomBytes } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { fromJobData } from '../../adapters/bullmq/index.js';
import { REDIS_URL } from '../helpers/services.js';
import type { ReceivedMessage } from './transport-suite.js';

export { REDIS_URL };

export function randomName(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

/** Every state a job of the transport can be in before a worker touches it, and after. */
const ALL_STATES = ['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed'] as const;

export interface RedisAdmin {
  readonly redis: Redis;
  /** A Queue handle on the admin connection (tracked: obliterated in cleanup()). */
  queue(name: string, prefix?: string): Queue;
  /** Every job of the queue, oldest first (the order they were added). */
  jobs(name: string, prefix?: string): Promise<Job[]>;
  /** How many jobs the queue holds, all states. */
  count(name: string, prefix?: string): Promise<number>;
  /** Obliterates the tracked queues and closes their handles. */
  cleanup(): Promise<void>;
  close(): Promise<void>;
}

export function createRedisAdmin(url = REDIS_URL): RedisAdmin {
  const redis = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: false });
  redis.on('error', () => undefined);
  const queues = new Map<string, Queue>();
  const queue = (name: string, prefix = 'bull'): Queue => {
    const key = `${prefix}:${name}`;
    let q = queues.get(key);
    if (q === undefined) {
      q = new Queue(name, { connection: redis, prefix });
      q.on('error', () => undefined);
      queues.set(key, q);
    }
    return q;
  };
  return {
    redis,
    queue,
    async jobs(name, prefix) {
      const jobs = await queue(name, prefix).getJobs([...ALL_STATES], 0, -1, true);
      return jobs.filter((job): job is Job => job !== undefined && job !== null);
    },
    count: (name, prefix) => queue(name, prefix).getJobCountByTypes(...ALL_STATES),
    async cleanup() {
      const all = [...queues.values()];
      queues.clear();
      for (const q of all) {
        await q.obliterate({ force: true }).catch(() => undefined);
        await q.close().catch(() => undefined);
      }
    },
    async close() {
      redis.disconnect();
    },
  };
}

export function received(job: Job): ReceivedMessage {
  const envelope = fromJobData(job.data, { id: String(job.id), topic: job.name });
  return {
    id: envelope.id,
    topic: envelope.topic,
    key: envelope.key,
    payload: envelope.payload,
    contentType: envelope.contentType,
    headers: envelope.headers,
    correlationId: envelope.correlationId,
    replyTo: envelope.replyTo,
  };
}
