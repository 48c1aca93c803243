/**
 * The BullMQ worker middleware against the real Redis: jobs are added directly in the transport's
 * wire format (toJobData), so these tests do not depend on the transport.
 */
import { Job, Worker } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createBullMQWorker,
  listBullMQDeadLetters,
  postboxProcessor,
  purgeBullMQDeadLetters,
  replayBullMQDeadLetters,
  showBullMQDeadLetter,
  type BullMQWorker,
  type BullMQWorkerEvent,
  type BullMQWorkerOptions,
} from '../../adapters/bullmq/index.js';
import { toJobData } from '../../adapters/bullmq/wire.js';
import type { ConsumedMessage } from '../../src/consumer/types.js';
import { ConfigError, ErrorCode, NonRetryableError } from '../../src/errors.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import type { OutboxMessage } from '../../src/message.js';
import { createRedisAdmin, randomName, REDIS_URL, type RedisAdmin } from '../conformance/bullmq-tools.js';
import { makeMessage } from '../conformance/transport-suite.js';
import { useDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

const FAST_POLICY = { default: { maxAttempts: 3, backoff: { initialMs: 150, multiplier: 2, maxMs: 1_000, jitter: 'none' as const } } };

const db = useDatabase();
let admin: RedisAdmin;
beforeAll(() => {
  admin = createRedisAdmin();
});
afterAll(async () => {
  await admin.close();
});

const workers: BullMQWorker[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop({ timeoutMs: 2_000 });
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await admin.cleanup();
});

let queue: string;
function freshQueue(): string {
  queue = randomName('bw');
  admin.queue(queue);
  admin.queue(`${queue}.dead`);
  return queue;
}

async function start(options: Partial<BullMQWorkerOptions> & Pick<BullMQWorkerOptions, 'handler'>): Promise<BullMQWorker> {
  const worker = createBullMQWorker({ queue, connection: REDIS_URL, policies: FAST_POLICY, ...options });
  workers.push(worker);
  await worker.start();
  return worker;
}

/** Adds the message as the transport does: jobId = message id, name = topic, envelope data, policy attempts, postbox backoff. */
async function add(message: OutboxMessage, opts: { attempts?: number; jobId?: string; data?: unknown } = {}): Promise<Job> {
  return admin.queue(queue).add(message.topic, opts.data ?? toJobData(message, 'envelope'), {
    jobId: opts.jobId ?? message.id,
    attempts: opts.attempts ?? 3,
    backoff: { type: 'postbox' },
  });
}

async function stateOf(jobId: string): Promise<string> {
  return (await admin.queue(queue).getJobState(jobId)) as string;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('bullmq worker', () => {
  it('completes a job only after the handler succeeded, with the envelope as the message', async () => {
    freshQueue();
    const seen: ConsumedMessage[] = [];
    const gate = deferred();
    await start({
      handler: async (m, context) => {
        expect(context).toMatchObject({ consumer: queue, transport: 'bullmq' });
        seen.push(m);
        await gate.promise;
      },
    });
    const message = makeMessage('orders.created', { key: 'order-1', correlationId: 'c-1', headers: { 'x-tenant': 'acme' } });
    await add(message);
    await waitFor('the handler to run', () => seen.length === 1);
    expect(await stateOf(message.id)).toBe('active'); // not acknowledged while the handler runs
    gate.resolve();
    await waitFor('the job to complete', async () => (await stateOf(message.id)) === 'completed');
    expect(seen[0]).toMatchObject({ id: message.id, topic: 'orders.created', key: 'order-1', correlationId: 'c-1', attempt: 1 });
    expect(seen[0]!.headers['x-tenant']).toBe('acme');
    expect(seen[0]!.json()).toEqual(JSON.parse(message.payload.toString()));
  });

  it('retries a failing handler after the policy backoff, with the attempt counted, until it succeeds', async () => {
    freshQueue();
    const attempts: Array<{ attempt: number; at: number }> = [];
    const events: BullMQWorkerEvent[] = [];
    await start({
      onEvent: (e) => events.push(e),
      handler: async (m) => {
        attempts.push({ attempt: m.attempt, at: Date.now() });
        if (m.attempt < 3) throw new Error(`flaky ${m.attempt}`);
      },
    });
    const message = makeMessage('orders.flaky');
    await add(message, { attempts: 5 });
    await waitFor('the job to complete', async () => (await stateOf(message.id)) === 'completed');
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    const retries = events.filter((e) => e.type === 'message:retry-scheduled');
    expect(retries.map((e) => e.type === 'message:retry-scheduled' && [e.attempt, e.delayMs])).toEqual([
      [1, 150],
      [2, 300],
    ]);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(140); // BullMQ waited the policy's delay
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(290);
    const { logs } = await admin.queue(queue).getJobLogs(message.id);
    expect(logs.filter((l) => l.startsWith('postbox:attempt-failed'))).toHaveLength(2); // the history, visible on the job
  });

  it('sends a NonRetryableError to the dead-letter queue at once, with its history, and fails the original', async () => {
    freshQueue();
    let calls = 0;
    await start({
      handler: async () => {
        calls += 1;
        throw new NonRetryableError('bad input');
      },
    });
    const message = makeMessage('orders.bad', { key: 'k-1' });
    await add(message, { attempts: 5 });
    await waitFor('the original to fail', async () => (await stateOf(message.id)) === 'failed');
    expect(calls).toBe(1);
    const [dead, ...rest] = await listBullMQDeadLetters({ connection: REDIS_URL, queue });
    expect(rest).toEqual([]);
    expect(dead).toMatchObject({
      id: message.id,
      deadLetterQueue: `${queue}.dead`,
      messageId: message.id,
      topic: 'orders.bad',
      key: 'k-1',
      reason: 'permanent-error',
      consumer: queue,
      attempts: 1,
      lastError: 'NonRetryableError: bad input',
      errors: [{ attempt: 1, message: 'NonRetryableError: bad input', code: ErrorCode.NonRetryable }],
      original: { queue, jobId: message.id, name: 'orders.bad', data: toJobData(message, 'envelope'), opts: { attempts: 5, backoff: { type: 'postbox' } } },
    });
    const original = await admin.queue(queue).getJob(message.id);
    expect(original!.failedReason).toMatch(/^dead-lettered to ".*\.dead" \(permanent-error\): NonRetryableError: bad input$/);
    expect(original!.attemptsMade).toBe(1); // not retried
  });

  it("dead-letters after the attempts run out (the smaller of the policy's and the job's) with every error", async () => {
    freshQueue();
    const events: BullMQWorkerEvent[] = [];
    await start({
      onEvent: (e) => events.push(e),
      policies: { default: { maxAttempts: 3, backoff: { initialMs: 10, jitter: 'none' } } },
      handler: async (m) => {
        throw new Error(`poison ${m.attempt}`);
      },
    });
    const byPolicy = makeMessage('orders.poison');
    const byJob = makeMessage('orders.poison');
    await add(byPolicy, { attempts: 10 });
    await add(byJob, { attempts: 2 });
    await waitFor('both dead letters', async () => (await listBullMQDeadLetters({ connection: REDIS_URL, queue })).length === 2);
    const dead = await showBullMQDeadLetter({ connection: REDIS_URL, queue, id: byPolicy.id });
    expect(dead).toMatchObject({ reason: 'max-attempts', attempts: 3, lastError: 'Error: poison 3' });
    expect(dead!.errors.map((e) => [e.attempt, e.message])).toEqual([
      [1, 'Error: poison 1'],
      [2, 'Error: poison 2'],
      [3, 'Error: poison 3'],
    ]);
    expect(dead!.errors.every((e) => !Number.isNaN(Date.parse(e.at)))).toBe(true);
    expect(dead!.firstFailedAt).toBe(dead!.errors[0]!.at);
    expect(dead!.lastFailedAt).toBe(dead!.errors[2]!.at);
    const short = await showBullMQDeadLetter({ connection: REDIS_URL, queue, id: byJob.id });
    expect(short).toMatchObject({ reason: 'max-attempts', attempts: 2 });
    expect(await stateOf(byPolicy.id)).toBe('failed');
    expect(await stateOf(byJob.id)).toBe('failed');
    expect(events.filter((e) => e.type === 'message:dead-lettered')).toHaveLength(2);
  });

  it('dead-letters a poison payload (JSON content type, bytes that are not JSON) as non-retryable', async () => {
    freshQueue();
    let calls = 0;
    await start({
      handler: async (m) => {
        calls += 1;
        m.json();
      },
    });
    const message = makeMessage('orders.garbled');
    const envelope = toJobData({ ...message, contentType: 'application/octet-stream', payload: Buffer.from('{not json') }, 'envelope');
    await add(message, { data: { ...(envelope as object), contentType: 'application/json' } });
    await waitFor('the dead letter', async () => (await listBullMQDeadLetters({ connection: REDIS_URL, queue })).length === 1);
    const [dead] = await listBullMQDeadLetters({ connection: REDIS_URL, queue });
    expect(calls).toBe(1);
    expect(dead).toMatchObject({ reason: 'permanent-error', attempts: 1 });
    expect(dead!.lastError).toMatch(/^NonRetryableError: .*payload is not valid JSON/);
  });

  it('applies the inbox: a second job with the same message id has no second effect', async () => {
    freshQueue();
    const schema = await db.freshSchema();
    await db.pool.query(`CREATE TABLE "${schema}".effects (message_id text NOT NULL)`);
    const inbox = createInbox({ pool: db.pool, schema });
    const duplicates: string[] = [];
    await start({
      middleware: [inboxMiddleware({ inbox, onDuplicate: (id) => duplicates.push(id) })],
      handler: async (m, context) => {
        await context.tx!.query(`INSERT INTO "${schema}".effects (message_id) VALUES ($1)`, [m.id]);
      },
    });
    const message = makeMessage('orders.paid');
    await add(message);
    await waitFor('the first job', async () => (await stateOf(message.id)) === 'completed');
    await add(message, { jobId: `again-${message.id}` }); // e.g. re-published after the first job was removed
    await waitFor('the duplicate to be skipped', () => duplicates.length === 1);
    expect(await stateOf(`again-${message.id}`)).toBe('completed');
    const { rows } = await db.pool.query(`SELECT message_id FROM "${schema}".effects`);
    expect(rows).toEqual([{ message_id: message.id }]);
  });

  it('replays dead letters to their queue with the same id and a fresh attempt count; purge empties the rest', async () => {
    freshQueue();
    const seen: ConsumedMessage[] = [];
    let broken = true;
    await start({
      handler: async (m) => {
        seen.push(m);
        if (broken) throw new NonRetryableError('not yet');
      },
    });
    const replayed = makeMessage('orders.replayed');
    const purged = makeMessage('orders.purged');
    await add(replayed);
    await add(purged);
    await waitFor('two dead letters', async () => (await listBullMQDeadLetters({ connection: REDIS_URL, queue })).length === 2);

    const dry = await replayBullMQDeadLetters({ connection: REDIS_URL, queue, ids: [replayed.id], dryRun: true });
    expect(dry).toMatchObject({ count: 1, dryRun: true, replayed: [{ id: replayed.id, messageId: replayed.id, queue, jobId: replayed.id }] });
    expect(await stateOf(replayed.id)).toBe('failed');

    // Replayed while still broken: it dies again, and its dead letter keeps the errors of both lives.
    const first = await showBullMQDeadLetter({ connection: REDIS_URL, queue, id: replayed.id });
    await replayBullMQDeadLetters({ connection: REDIS_URL, queue, ids: [replayed.id] });
    await waitFor('the second death', async () => (await showBullMQDeadLetter({ connection: REDIS_URL, queue, id: replayed.id }))?.errors.length === 2);
    const again = await showBullMQDeadLetter({ connection: REDIS_URL, queue, id: replayed.id });
    expect(again!.errors.map((e) => e.attempt)).toEqual([1, 1]);
    expect(again!.firstFailedAt).toBe(first!.firstFailedAt);

    broken = false;
    const result = await replayBullMQDeadLetters({ connection: REDIS_URL, queue, ids: [replayed.id] });
    expect(result).toMatchObject({ count: 1, dryRun: false, replayed: [{ id: replayed.id, messageId: replayed.id, queue, jobId: replayed.id, alreadyQueued: false }] });
    await waitFor('the replayed job to complete', async () => (await stateOf(replayed.id)) === 'completed');
    expect(seen.filter((m) => m.id === replayed.id).map((m) => m.attempt)).toEqual([1, 1, 1]);
    const job = await admin.queue(queue).getJob(replayed.id);
    expect(job!.opts).toMatchObject({ attempts: 3, backoff: { type: 'postbox' } });

    expect((await listBullMQDeadLetters({ connection: REDIS_URL, queue })).map((d) => d.id)).toEqual([purged.id]);
    expect(await purgeBullMQDeadLetters({ connection: REDIS_URL, queue, dryRun: true })).toBe(1);
    expect(await purgeBullMQDeadLetters({ connection: REDIS_URL, queue })).toBe(1);
    expect(await listBullMQDeadLetters({ connection: REDIS_URL, queue })).toEqual([]);
  });

  it('writes a dead letter once when the same job is dead-lettered again (a re-run after a crash)', async () => {
    freshQueue();
    const processor = postboxProcessor({ connection: REDIS_URL, handler: async () => Promise.reject(new NonRetryableError('always')) });
    cleanups.push(() => processor.close());
    const message = makeMessage('orders.twice');
    await add(message);
    const job = (await Job.fromId(admin.queue(queue), message.id))!;
    await expect(processor(job)).rejects.toMatchObject({ name: 'UnrecoverableError' });
    await expect(processor(job)).rejects.toMatchObject({ name: 'UnrecoverableError' }); // as if the worker died before failing it
    expect(await admin.count(`${queue}.dead`)).toBe(1);
  });

  it('runs inside your own bullmq Worker with the postbox backoff strategy', async () => {
    freshQueue();
    const attempts: number[] = [];
    const processor = postboxProcessor({
      connection: REDIS_URL,
      policies: FAST_POLICY,
      handler: async (m) => {
        attempts.push(m.attempt);
        if (m.attempt === 1) throw new Error('once');
      },
    });
    const worker = new Worker(queue, processor, { connection: { url: REDIS_URL }, settings: { backoffStrategy: processor.backoffStrategy } });
    worker.on('error', () => undefined);
    cleanups.push(async () => {
      await worker.close();
      await processor.close();
    });
    const message = makeMessage('orders.own-worker');
    await add(message);
    await waitFor('the job to complete', async () => (await stateOf(message.id)) === 'completed');
    expect(attempts).toEqual([1, 2]);
    expect((await admin.queue(queue).getJob(message.id))!.attemptsMade).toBe(2);
  });

  it('stop() waits for running handlers (their signal aborted) before it resolves', async () => {
    freshQueue();
    const gate = deferred();
    let aborted = false;
    let running = false;
    const worker = await start({
      handler: async (_m, context) => {
        running = true;
        context.signal.addEventListener('abort', () => (aborted = true));
        await gate.promise;
      },
    });
    const message = makeMessage('orders.slow');
    await add(message);
    await waitFor('the handler to run', () => running);
    let stopped = false;
    const stopping = worker.stop({ timeoutMs: 10_000 }).then(() => (stopped = true));
    await waitFor('the signal to abort', () => aborted);
    expect(stopped).toBe(false);
    gate.resolve();
    await stopping;
    expect(await stateOf(message.id)).toBe('completed');
    await expect(worker.start()).rejects.toMatchObject({ code: ErrorCode.Stopped });
  });

  it('stop() gives back a job whose handler fails on the abort, uncounted, and does not run it again', async () => {
    freshQueue();
    let runs = 0;
    const events: string[] = [];
    const worker = await start({
      onEvent: (event) => events.push(event.type),
      handler: async (_m, context) => {
        runs += 1;
        await new Promise((_resolve, reject) => context.signal.addEventListener('abort', () => reject(new Error('stopping')), { once: true }));
      },
    });
    const message = makeMessage('orders.interrupted');
    await add(message);
    await waitFor('the handler to run', () => runs === 1);
    await worker.stop({ timeoutMs: 10_000 });
    expect(runs).toBe(1);
    expect(events.filter((e) => e === 'message:returned')).toHaveLength(1);
    const job = await admin.queue(queue).getJob(message.id);
    expect(await job!.getState()).toBe('waiting');
    expect(job!.attemptsMade).toBe(0);
  });

  it('rejects bad options with a ConfigError naming the fields, and an unreachable Redis at start()', async () => {
    freshQueue();
    expect(() => createBullMQWorker({ queue: '', connection: 'redis://127.0.0.1:6379', handler: undefined as never, concurrency: -1 })).toThrow(ConfigError);
    try {
      createBullMQWorker({ queue: '', connection: 'redis://127.0.0.1:6379', handler: undefined as never, concurrency: -1 });
    } catch (error) {
      expect((error as ConfigError).problems.map((p) => p.field)).toEqual(['handler', 'queue', 'concurrency']);
    }
    const unreachable = createBullMQWorker({ queue, connection: 'redis://127.0.0.1:1', handler: async () => undefined, startTimeoutMs: 300 });
    await expect(unreachable.start()).rejects.toMatchObject({ code: ErrorCode.TransportUnavailable });
    await unreachable.stop();
  });
});
