/**
 * Stalled jobs: a worker process (fixtures/bullmq-worker-child.ts) is killed with SIGKILL in the
 * middle of two jobs: one with its effect written but not committed, one with its effect committed
 * through the inbox but not yet acknowledged to BullMQ. Their locks expire, BullMQ's stalled
 * checker (run by the worker of this process) puts them back, and this worker runs them again:
 * both complete and each effect exists exactly once (the inbox skips the committed one).
 * A job that stalls more often than maxStalledCount is failed by BullMQ without running the
 * processor; the worker dead-letters it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, expect, it } from 'vitest';
import { createBullMQWorker, listBullMQDeadLetters, type BullMQWorker, type BullMQWorkerEvent } from '../../adapters/bullmq/index.js';
import { toJobData } from '../../adapters/bullmq/wire.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { createRedisAdmin, randomName, REDIS_URL } from '../conformance/bullmq-tools.js';
import { makeMessage } from '../conformance/transport-suite.js';
import { useDatabase } from '../helpers/db.js';
import { DATABASE_URL } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';

const REPOSITORY = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./fixtures/bullmq-worker-child.ts', import.meta.url));
const LOCK_MS = 1_000;
const STALLED_INTERVAL_MS = 300;

const { pool, freshSchema } = useDatabase();
const admin = createRedisAdmin();
afterAll(async () => {
  await admin.close();
});
const children = new Set<ChildProcess>();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await admin.cleanup();
});

/** Starts the worker child; resolves with a reader of its stdout once it printed `ready`. */
async function startChild(settings: Record<string, string>): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
    cwd: REPOSITORY,
    env: { ...process.env, ...Object.fromEntries(Object.entries(settings).map(([k, v]) => [`POSTBOX_CHILD_${k}`, v])) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  await waitFor('the worker child to be ready', () => {
    if (exited) throw new Error(`the worker child exited before it was ready; stderr: ${stderr}`);
    return stdout.includes('ready\n');
  });
  return { child, output: () => stdout };
}

it('re-runs the jobs of a worker killed mid-job on another worker, and the inbox keeps each effect single', async () => {
  const schema = await freshSchema();
  await pool.query(`CREATE TABLE "${schema}".effects (message_id text NOT NULL)`);
  const queue = randomName('stalled');
  admin.queue(queue);
  admin.queue(`${queue}.dead`);

  const { child, output } = await startChild({ REDIS_URL, DATABASE_URL, SCHEMA: schema, QUEUE: queue, LOCK_MS: String(LOCK_MS), STALLED_MS: String(STALLED_INTERVAL_MS) });
  const uncommitted = makeMessage('stalled.item', { payload: Buffer.from(JSON.stringify({ hold: 'before-commit' })) });
  const committed = makeMessage('stalled.item', { payload: Buffer.from(JSON.stringify({ hold: 'after-commit' })) });
  for (const message of [uncommitted, committed]) {
    await admin.queue(queue).add(message.topic, toJobData(message, 'envelope'), { jobId: message.id, attempts: 3, backoff: { type: 'postbox' } });
  }
  await waitFor('the child to hold both jobs', () => output().includes(`holding ${uncommitted.id}`) && output().includes(`holding ${committed.id}`));
  const rows = async (): Promise<string[]> => (await pool.query(`SELECT message_id FROM "${schema}".effects ORDER BY message_id`)).rows.map((r) => r.message_id as string);
  expect(await rows()).toEqual([committed.id]); // the other one is still uncommitted
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;

  const inbox = createInbox({ pool, schema });
  const events: BullMQWorkerEvent[] = [];
  const duplicates: string[] = [];
  const attempts: Array<[string, number]> = [];
  const worker: BullMQWorker = createBullMQWorker({
    queue,
    connection: REDIS_URL,
    onEvent: (e) => events.push(e),
    workerOptions: { lockDuration: LOCK_MS, stalledInterval: STALLED_INTERVAL_MS },
    middleware: [
      (next) => (message, context) => {
        attempts.push([message.id, message.attempt]);
        return next(message, context);
      },
      inboxMiddleware({ inbox, onDuplicate: (id) => duplicates.push(id) }),
    ],
    handler: async (message, context) => {
      await context.tx!.query(`INSERT INTO "${schema}".effects (message_id) VALUES ($1)`, [message.id]);
    },
  });
  cleanups.push(() => worker.stop({ timeoutMs: 2_000 }));
  await worker.start();

  const state = (id: string) => admin.queue(queue).getJobState(id);
  await waitFor('both jobs to complete on the new worker', async () => (await state(uncommitted.id)) === 'completed' && (await state(committed.id)) === 'completed', {
    timeoutMs: 15_000,
  });
  expect(events.filter((e) => e.type === 'job:stalled').map((e) => e.type === 'job:stalled' && e.jobId).sort()).toEqual([uncommitted.id, committed.id].sort());
  expect(await rows()).toEqual([uncommitted.id, committed.id].sort()); // each effect once
  expect(duplicates).toEqual([committed.id]); // committed before the kill: skipped by the inbox, then acknowledged
  expect(attempts.map(([, attempt]) => attempt)).toEqual([1, 1]); // a stall is not a failed attempt
  for (const id of [uncommitted.id, committed.id]) {
    const job = await admin.queue(queue).getJob(id);
    expect(job).toMatchObject({ stalledCounter: 1, attemptsStarted: 2 });
  }
  expect(await admin.count(`${queue}.dead`)).toBe(0);
});

it('dead-letters a job that stalled more often than maxStalledCount allows', async () => {
  const schema = await freshSchema();
  await pool.query(`CREATE TABLE "${schema}".effects (message_id text NOT NULL)`);
  const queue = randomName('stalled');
  admin.queue(queue);
  admin.queue(`${queue}.dead`);
  const { child, output } = await startChild({ REDIS_URL, DATABASE_URL, SCHEMA: schema, QUEUE: queue, LOCK_MS: String(LOCK_MS), STALLED_MS: String(STALLED_INTERVAL_MS) });
  const message = makeMessage('stalled.item', { payload: Buffer.from(JSON.stringify({ hold: 'before-commit' })) });
  await admin.queue(queue).add(message.topic, toJobData(message, 'envelope'), { jobId: message.id, attempts: 3, backoff: { type: 'postbox' } });
  await waitFor('the child to hold the job', () => output().includes(`holding ${message.id}`));
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;

  let handled = 0;
  const worker = createBullMQWorker({
    queue,
    connection: REDIS_URL,
    workerOptions: { lockDuration: LOCK_MS, stalledInterval: STALLED_INTERVAL_MS, maxStalledCount: 0 },
    handler: async () => void (handled += 1),
  });
  cleanups.push(() => worker.stop({ timeoutMs: 2_000 }));
  await worker.start();

  await waitFor('the dead letter', async () => (await listBullMQDeadLetters({ connection: REDIS_URL, queue })).length === 1, { timeoutMs: 15_000 });
  const [dead] = await listBullMQDeadLetters({ connection: REDIS_URL, queue });
  expect(dead).toMatchObject({ id: message.id, reason: 'max-attempts', original: { queue, jobId: message.id, stalledCounter: 1 } });
  expect(dead!.lastError).toMatch(/stalled more than allowable limit/);
  expect(await admin.queue(queue).getJobState(message.id)).toBe('failed');
  expect(handled).toBe(0);
  expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".effects`)).rows[0].n).toBe(0); // rolled back with the child
});
