/**
 * The BullMQ worker: a bullmq Worker on one queue running the postbox processor (job-handler.ts)
 * with the 'postbox' backoff strategy registered, so the topic policy's delays apply to retries.
 *
 * Acknowledgement is BullMQ's own: a job completes only after the handler (and its middleware,
 * e.g. the inbox transaction) succeeded. A worker that dies mid-job leaves the job active with a
 * lock that expires after lockDuration; BullMQ's stalled checker (any worker of the queue, every
 * stalledInterval) puts it back to run again, and the inbox keeps its effect single. A job that
 * stalls more than maxStalledCount times is failed by BullMQ without running the processor; this
 * worker writes its dead letter when it sees that failure.
 */
import { Worker, type Job } from 'bullmq';
import { ErrorCode, PostboxError, toError, TransportUnavailableError } from '../../src/errors.js';
import { redactText } from '../../src/redact.js';
import { postboxBackoffStrategy } from './backoff-strategy.js';
import { createJobHandler, isDeadLetteredError, type JobHandler } from './job-handler.js';
import { openWorkerRedis, type WorkerRedis } from './worker-connection.js';
import { resolveWorkerOptions, type BullMQWorkerEvent, type BullMQWorkerOptions } from './worker-options.js';

export interface BullMQWorker {
  /** Connects (at most startTimeoutMs) and starts working on the queue. */
  start(): Promise<void>;
  /**
   * Stops taking jobs, waits for running handlers (at most timeoutMs, default 10 s; their
   * context.signal is aborted) and closes. A handler still running after that is abandoned: its
   * job's lock expires and the job runs again elsewhere (the inbox removes the duplicate effect).
   */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

const DEFAULT_STOP_TIMEOUT_MS = 10_000;

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

interface Session {
  readonly redis: WorkerRedis;
  readonly jobs: JobHandler;
  readonly worker: Worker;
  running: Promise<void> | undefined;
}

/** Validates the options at once (ConfigError listing every problem); connects in start(). */
export function createBullMQWorker(options: BullMQWorkerOptions): BullMQWorker {
  const config = resolveWorkerOptions(options);
  const stopping = new AbortController();
  const inFlight = new Set<Promise<void>>();
  let state: State = 'new';
  let session: Session | undefined;
  let starting: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;

  const emit = (event: BullMQWorkerEvent): void => {
    try {
      config.onEvent?.(event);
    } catch {
      // observers must not break consuming
    }
  };

  function open(): Session {
    const redis = openWorkerRedis(config.connection, `postbox-worker-${config.queue.replace(/[^!-~]/g, '-')}`);
    const jobs = createJobHandler(config, { client: redis.client, stopping: stopping.signal });
    const { settings, ...passThrough } = config.workerOptions;
    const processor = (job: Job, token?: string, signal?: AbortSignal): Promise<void> => {
      const task = jobs.process(job, token, signal);
      const tracked = task.then(ignore, ignore);
      inFlight.add(tracked);
      void tracked.finally(() => inFlight.delete(tracked));
      return task;
    };
    const worker = new Worker(config.queue, processor, {
      ...passThrough,
      connection: redis.client,
      ...(config.prefix === undefined ? {} : { prefix: config.prefix }),
      concurrency: config.concurrency,
      autorun: false,
      settings: {
        ...settings,
        backoffStrategy: postboxBackoffStrategy(config.policies, settings?.backoffStrategy === undefined ? {} : { fallback: settings.backoffStrategy }),
      },
    });
    worker.on('error', (error) => emit({ type: 'consumer:error', error: toError(error) }));
    worker.on('stalled', (jobId) => emit({ type: 'job:stalled', jobId }));
    worker.on('failed', (job, error) => {
      // Failed for good without a dead letter: BullMQ gave up by itself (stalled or started too often).
      if (job === undefined || job.finishedOn === undefined || isDeadLetteredError(error)) return;
      const task = jobs.deadLetterUnprocessed(job, toError(error));
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
    });
    return { redis, jobs, worker, running: undefined };
  }

  async function close(current: Session, force: boolean): Promise<void> {
    await current.worker.close(force).catch((error: unknown) => emit({ type: 'consumer:error', error: toError(error) }));
    if (!force) await current.running; // forced: its loop still waits for the abandoned handlers
    await current.jobs.close();
    await current.redis.close();
  }

  async function waitUntilReady(worker: Worker): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${config.startTimeoutMs} ms (startTimeoutMs)`)), config.startTimeoutMs);
    });
    try {
      await Promise.race([worker.waitUntilReady(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    start() {
      if (state === 'stopping' || state === 'stopped') {
        return Promise.reject(new PostboxError(ErrorCode.Stopped, 'the worker was stopped; create a new one to consume again'));
      }
      starting ??= (async () => {
        state = 'starting';
        const current = open();
        try {
          await waitUntilReady(current.worker);
        } catch (error) {
          state = 'new';
          starting = undefined;
          await close(current, true);
          throw new TransportUnavailableError(
            `the bullmq worker of queue ${JSON.stringify(config.queue)} could not start: ${redactText(toError(error).message)}`,
            { cause: error },
          );
        }
        session = current;
        current.running = current.worker.run().catch((error: unknown) => emit({ type: 'consumer:error', error: toError(error) }));
        state = 'running';
      })();
      return starting;
    },
    stop({ timeoutMs = DEFAULT_STOP_TIMEOUT_MS } = {}) {
      stopped ??= (async () => {
        await starting?.catch(ignore);
        state = 'stopping';
        const current = session;
        session = undefined;
        // No new jobs first (running ones go on), then tell the handlers: a job a handler gives
        // back on the abort must not be fetched again by this worker.
        await current?.worker.pause(true).catch(ignore);
        stopping.abort();
        if (current !== undefined) {
          const finished = await settleWithin(Promise.all([...inFlight]), timeoutMs);
          await close(current, !finished);
        }
        state = 'stopped';
      })();
      return stopped;
    },
  };
}

/** True when `promise` settled within timeoutMs. */
async function settleWithin(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function ignore(): void {}
