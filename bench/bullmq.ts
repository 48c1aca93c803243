/**
 * npm run bench -- bullmq
 *
 * Reference: raw BullMQ Queue.addBulk with what the transport adds: the same job data (the
 * postbox envelope), the same job options (jobId, attempts, backoff 'postbox', retention by age),
 * chunks of the transport's preferred size, BENCH_BULLMQ_LANES (4) addBulk calls in flight (the
 * relay's publish window of 2000 / 500), to one queue on an ioredis connection with the
 * transport's fail-fast settings. The queue is obliterated between phases. See harness.ts for the rest.
 * Settings (env): POSTBOX_REDIS_URL (redis://127.0.0.1:6379), BENCH_BULLMQ_LANES (4), and those of harness.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { BULLMQ_DEFAULTS, createBullMQTransport, ENVELOPE_MARK, ENVELOPE_VERSION, POSTBOX_BACKOFF_TYPE } from '../adapters/bullmq/index.js';
import { redactUrl } from '../src/redact.js';
import { runBenchmark } from './harness.js';
import { env, rate, samplePayload } from './stats.js';

const REDIS_URL = process.env.POSTBOX_REDIS_URL ?? 'redis://127.0.0.1:6379';
const LANES = env('BENCH_BULLMQ_LANES', 4);
const TOPIC = 'bench.order-placed';
const chunkSize = BULLMQ_DEFAULTS.preferredChunkSize;
const ageSeconds = BULLMQ_DEFAULTS.retain.completedMs / 1000;
/** What the transport sets for the default policy (10 attempts). */
const JOB_OPTIONS: JobsOptions = {
  attempts: 10,
  backoff: { type: POSTBOX_BACKOFF_TYPE },
  removeOnComplete: { age: ageSeconds },
  removeOnFail: { age: ageSeconds },
};

runBenchmark({
  name: 'bullmq',
  reference: `bullmq Queue.addBulk of ${chunkSize}, ${LANES} in flight, at ${redactUrl(REDIS_URL)}`,
  topic: TOPIC,
  async setup() {
    const queueName = `postbox-bench-${randomBytes(4).toString('hex')}`;
    const redis = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: true });
    await redis.connect();
    const queue = new Queue(queueName, { connection: redis });
    await queue.waitUntilReady();
    return {
      rawPublish: (count) => rawPublish(queue, count),
      transport: () => createBullMQTransport({ connection: REDIS_URL, routes: { [TOPIC]: { queue: queueName } } }),
      // A queue of hundreds of thousands of jobs costs Redis memory and slows nothing, but empty it
      // anyway so that every phase starts alike.
      reset: () => queue.obliterate({ force: true, count: 5_000 }),
      teardown: async () => {
        await queue.obliterate({ force: true, count: 5_000 }).catch(() => undefined);
        await queue.close();
        redis.disconnect();
      },
    };
  },
});

/** What BullMQ alone does with the same jobs, options and destination. */
async function rawPublish(queue: Queue, count: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const first = next;
      next = Math.min(count, next + chunkSize);
      const jobs = [];
      for (let i = first; i < next; i++) {
        const id = randomUUID();
        const data = {
          [ENVELOPE_MARK]: ENVELOPE_VERSION,
          id,
          topic: TOPIC,
          key: `order-${i}`,
          contentType: 'application/json',
          headers: {},
          correlationId: null,
          replyTo: null,
          createdAt: new Date().toISOString(),
          publishAttempt: 1,
          payloadText: JSON.stringify(samplePayload(i)),
        };
        jobs.push({ name: TOPIC, data, opts: { ...JOB_OPTIONS, jobId: id } });
      }
      await queue.addBulk(jobs);
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  return rate(count, performance.now() - started);
}
