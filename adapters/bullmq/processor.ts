/**
 * The postbox processor for your own bullmq Worker: the same handling as createBullMQWorker
 * (handler and middleware, policy retries, dead letters), without the worker around it.
 *
 *   const processor = postboxProcessor({ connection, handler, middleware: [inboxMiddleware({ inbox })] });
 *   const worker = new Worker('orders', processor, {
 *     connection, settings: { backoffStrategy: processor.backoffStrategy },
 *   });
 *   // on shutdown: await worker.close(); await processor.close();
 *
 * Not covered here (createBullMQWorker does it): jobs BullMQ fails without calling the processor
 * (stalled more than maxStalledCount times) are left in the failed set without a dead letter, and
 * a failure while shutting down counts as an attempt.
 */
import type { BackoffStrategy, Job } from 'bullmq';
import { postboxBackoffStrategy } from './backoff-strategy.js';
import { createJobHandler } from './job-handler.js';
import { openWorkerRedis } from './worker-connection.js';
import { resolveProcessorOptions, type PostboxProcessorOptions } from './worker-options.js';

export interface PostboxProcessor {
  (job: Job, token?: string, signal?: AbortSignal): Promise<void>;
  /** For the Worker's settings.backoffStrategy: the 'postbox' backoff with these policies. */
  readonly backoffStrategy: BackoffStrategy;
  /** Closes what the processor opened (its queues for dead letters, and the Redis client when it opened one). */
  close(): Promise<void>;
}

/** Validates the options (ConfigError listing every problem). Connects lazily, on the first failure. */
export function postboxProcessor(options: PostboxProcessorOptions): PostboxProcessor {
  const config = resolveProcessorOptions(options);
  const redis = openWorkerRedis(config.connection, 'postbox-processor');
  const jobs = createJobHandler(config, { client: redis.client });
  // Three parameters: BullMQ passes the job's abort signal only to processors that declare it.
  const processor = (job: Job, token?: string, signal?: AbortSignal): Promise<void> => jobs.process(job, token, signal);
  return Object.assign(processor, {
    backoffStrategy: postboxBackoffStrategy(config.policies),
    async close() {
      await jobs.close();
      await redis.close();
    },
  });
}
