/**
 * The BullMQ producer facade against real PostgreSQL and Redis: outboxQueue(queue).add/addBulk
 * write to the outbox in the transaction, and the relay with the BullMQ transport then adds
 * exactly the job the wrapped queue would have added (queue, name, data, options).
 */
import { Job, Queue, type JobsOptions } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createBullMQTransport, createBullMQWorker, outboxQueue, type OutboxQueue } from '../../adapters/bullmq/index.js';
import { withTransaction } from '../../src/db/queryable.js';
import { ErrorCode, ValidationError } from '../../src/errors.js';
import { encodeRoute } from '../../src/facade/route.js';
import { NoTransactionError } from '../../src/facade/scope.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { silentLogger } from '../../src/logger.js';
import { createDeadLetters } from '../../src/outbox/dead-letters.js';
import { createOutbox, enqueueRouted, type Outbox } from '../../src/outbox/enqueue.js';
import { createRelay } from '../../src/relay/relay.js';
import { createRedisAdmin, randomName, REDIS_URL } from '../conformance/bullmq-tools.js';
import { useDatabase } from '../helpers/db.js';
import { createEffectsTable, readEffects, recordEffect, useCleanups } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';
import { FAST_POLICY, FAST_RELAY, rowCount } from './fixtures/rabbitmq-kit.js';

const { pool, freshSchema } = useDatabase();
const admin = createRedisAdmin();
afterAll(async () => {
  await admin.close();
});
const cleanups = useCleanups({ after: () => admin.cleanup() });

/** The wrapped queues' own defaults: the facade records them with each job. */
const DEFAULTS: JobsOptions = { attempts: 2, removeOnComplete: { age: 3_600 } };

interface World {
  readonly schema: string;
  readonly outbox: Outbox;
  /** A real Queue with DEFAULTS, wrapped by `facade`; the relay adds to its name on a queue object of its own. */
  readonly queue: Queue;
  readonly facade: OutboxQueue;
  /** A real Queue with DEFAULTS, for what BullMQ adds without postbox. */
  newQueue(prefix: string): Queue;
}

async function world(): Promise<World> {
  const schema = await freshSchema();
  const outbox = createOutbox({ schema });
  const newQueue = (prefix: string): Queue => {
    const name = randomName(prefix);
    admin.queue(name); // obliterated after the test
    const queue = new Queue(name, { connection: admin.redis, defaultJobOptions: DEFAULTS });
    cleanups.push(() => queue.close());
    return queue;
  };
  const queue = newQueue('facade');
  const transport = createBullMQTransport({ connection: REDIS_URL, policies: FAST_POLICY });
  cleanups.push(() => transport.close());
  const relay = createRelay({ pool, schema, transport, logger: silentLogger, policies: FAST_POLICY, ...FAST_RELAY });
  await relay.start();
  cleanups.push(() => relay.stop({ timeoutMs: 1_000 }));
  return { schema, outbox, queue, facade: outboxQueue(queue, { outbox }), newQueue };
}

const jobIn = async (queue: Queue, id: string): Promise<Job> => waitFor(`job ${id} in ${queue.name}`, () => Job.fromId(queue, id));

/** What must be equal: name, data, delay, priority and options, less the stamp (and the job id when BullMQ numbered it). */
function comparable(job: Job, keepJobId: boolean): unknown {
  const { timestamp: _timestamp, jobId, ...opts } = job.opts as JobsOptions & { timestamp?: number };
  return { name: job.name, data: job.data, delay: job.delay, priority: job.priority, opts: keepJobId ? { ...opts, jobId } : opts };
}

describe('what the relay adds', () => {
  const ADDS: Array<[name: string, data: unknown, opts: JobsOptions | undefined]> = [
    ['plain', { n: 1, nested: { list: [1, 'two', null, true] } }, undefined],
    ['own-id', { order: 7 }, { jobId: 'order-7' }],
    ['delayed', { at: new Date(0), dropped: undefined }, { delay: 60_000, priority: 3 }],
    ['tuned', 'just a string', { attempts: 5, backoff: { type: 'exponential', delay: 100 }, removeOnComplete: true, removeOnFail: 50, lifo: true, keepLogs: 3 }],
    ['no-data', undefined, { backoff: 250, stackTraceLimit: 2, sizeLimit: 1_000 }],
    ['deduplicated', [1, 2, 3], { deduplication: { id: 'same' } }],
  ];
  const BULK = [
    { name: 'bulk-a', data: { i: 0 } },
    { name: 'bulk-b', data: { i: 1 }, opts: { jobId: 'bulk-1', priority: 1 } },
  ];

  it('is the job the wrapped queue would have added: name, data and options, for add and addBulk', async () => {
    const w = await world();
    const raw = w.newQueue('raw');
    const rawIds = [...(await Promise.all(ADDS.map(([name, data, opts]) => raw.add(name, data, opts)))), ...(await raw.addBulk(BULK))].map((job) => job.id!);
    const returned = await withTransaction(pool, async () => {
      const jobs = [];
      for (const [name, data, opts] of ADDS) jobs.push(await w.facade.add(name, data, opts));
      return [...jobs, ...(await w.facade.addBulk(BULK))];
    });

    const givenIds = [...ADDS.map(([, , opts]) => opts?.jobId), ...BULK.map((job) => job.opts?.jobId)];
    for (const [i, outboxJob] of returned.entries()) {
      const [rawJob, facadeJob] = await Promise.all([jobIn(raw, rawIds[i]!), jobIn(w.queue, outboxJob.id)]);
      const given = givenIds[i] !== undefined;
      expect(comparable(facadeJob, given), rawJob.name).toEqual(comparable(rawJob, given));
      // No job id given: BullMQ numbers the job, the relay uses the message id (a re-publish is a no-op).
      expect(facadeJob.id).toBe(given ? givenIds[i] : outboxJob.messageId);
      // Stamped at the call, so a delay counts from the call however late the relay adds the job.
      expect(facadeJob.timestamp).toBe(outboxJob.opts.timestamp);
      expect(outboxJob).toMatchObject({ name: rawJob.name, queueName: w.queue.name });
    }
  });

  it('honours the transaction: a rollback adds nothing, a call not awaited is committed, no transaction writes nothing', async () => {
    const w = await world();
    await expect(
      withTransaction(pool, async () => {
        await w.facade.add('rolled-back', {});
        throw new Error('business failure');
      }),
    ).rejects.toThrow('business failure');
    let pending: Promise<unknown> | undefined;
    await withTransaction(pool, async () => {
      pending = w.facade.add('not-awaited', { n: 1 }); // COMMIT waits for it
    });
    const committed = (await pending) as { id: string };
    // A write that fails fails the transaction, also when nobody awaits it (and raises no unhandled rejection).
    const broken = outboxQueue(w.queue, { outbox: createOutbox({ schema: 'no_such_schema' }) });
    await expect(
      withTransaction(pool, async () => {
        void broken.add('lost', {});
      }),
    ).rejects.toThrow(/no_such_schema/);
    // Thrown at the call: a programming error must not hide in a promise nobody awaits.
    expect(() => w.facade.add('outside', {})).toThrow(NoTransactionError);
    expect(() => w.facade.addBulk([{ name: 'outside', data: {} }])).toThrow(expect.objectContaining({ code: ErrorCode.NoTransaction }));

    await waitFor('the outbox to be empty', async () => (await rowCount(pool, w.schema, 'outbox')) === 0);
    const jobs = await admin.jobs(w.queue.name);
    expect(jobs.map((job) => [job.id, job.name])).toEqual([[committed.id, 'not-awaited']]);
  });

  it("goes to the wrapped queue's key prefix", async () => {
    const w = await world();
    const name = randomName('prefixed');
    admin.queue(name, 'pbx');
    const queue = new Queue(name, { connection: admin.redis, prefix: 'pbx' });
    cleanups.push(() => queue.close());
    const job = await withTransaction(pool, () => outboxQueue(queue, { outbox: w.outbox }).add('p', { n: 1 }));
    expect((await jobIn(queue, job.id)).data).toEqual({ n: 1 });
  });

  it('dedups a job id per queue, as BullMQ does: two queues of one topic each get their job', async () => {
    const w = await world();
    const other = w.newQueue('other');
    const topic = () => 'jobs.shared';
    const [a, b] = [outboxQueue(w.queue, { outbox: w.outbox, topic }), outboxQueue(other, { outbox: w.outbox, topic })];
    const [first, second] = await withTransaction(pool, async () => [await a.add('sync', { q: 'a' }, { jobId: 'user-1' }), await b.add('sync', { q: 'b' }, { jobId: 'user-1' })]);
    expect(second!.messageId).not.toBe(first!.messageId);
    expect((await jobIn(w.queue, 'user-1')).data).toEqual({ q: 'a' });
    expect((await jobIn(other, 'user-1')).data).toEqual({ q: 'b' });
  });

  it("with outsideTransaction: 'send', adds through the wrapped queue at once outside a transaction", async () => {
    const w = await world();
    const direct = outboxQueue(w.queue, { outbox: w.outbox, outsideTransaction: 'send', retry: { maxAttempts: 2 } });
    const job = await direct.add('direct', { n: 1 }, { priority: 2 });
    expect(await Job.fromId(w.queue, job.id)).toMatchObject({ name: 'direct', data: { n: 1 }, opts: { ...DEFAULTS, priority: 2 } });
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(0);
    // Everything else is the wrapped queue's own.
    expect(direct.name).toBe(w.queue.name);
    expect(direct.on('error', () => undefined)).toBe(direct); // chaining keeps the facade
    expect(await direct.getJobCounts('prioritized')).toEqual({ prioritized: 1 });
  });
});

describe('bad input', () => {
  it('is refused at the call naming the field, writes nothing and leaves the transaction usable', async () => {
    const w = await world();
    const cycle: Record<string, unknown> = { name: 'loop' };
    cycle.self = cycle;
    const fields = (call: () => unknown): string[] => {
      try {
        call();
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return (error as ValidationError).problems.map((p) => p.field);
      }
      throw new Error('expected the call to throw a ValidationError');
    };
    const kept = await withTransaction(pool, async () => {
      expect(fields(() => w.facade.add('big', { order: { total: 10n } }))).toEqual(['data.order.total']);
      expect(fields(() => w.facade.addBulk([{ name: 'ok', data: {} }, { name: 'loop', data: { items: [cycle] } }]))).toEqual(['jobs[1].data.items[0].self']);
      expect(fields(() => w.facade.add('every', {}, { repeat: { every: 1_000 }, jobId: '42' } as JobsOptions))).toEqual(['opts.repeat', 'opts.jobId']);
      expect(fields(() => w.facade.add('child', {}, { parent: { id: 'p', queue: 'bull:parents' } }))).toEqual(['opts.parent']);
      expect(fields(() => w.facade.add('odd', {}, { priority: 1.5, backoff: { type: 'fixed', jitter: 2 } }))).toEqual(['opts.priority', 'opts.backoff.jitter']);
      return w.facade.add('kept', { ok: true });
    });
    await jobIn(w.queue, kept.id);
    await waitFor('the outbox to be empty', async () => (await rowCount(pool, w.schema, 'outbox')) === 0);
    expect((await admin.jobs(w.queue.name)).map((job) => job.name)).toEqual(['kept']);
  });

  it('fails the transaction with a payload over the outbox limit, even when the call is not awaited', async () => {
    const w = await world();
    const small = outboxQueue(w.queue, { outbox: createOutbox({ schema: w.schema, maxPayloadBytes: 64 }) });
    const error = await withTransaction(pool, async () => {
      void small.addBulk([{ name: 'ok', data: {} }, { name: 'large', data: 'x'.repeat(100) }]);
    }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems.map((p) => p.field)).toEqual(['jobs[1].data']);
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(0);
  });

  it('dead-letters, as permanent, a message whose route is for another transport', async () => {
    const w = await world();
    const [id] = await withTransaction(pool, (tx) =>
      enqueueRouted(w.outbox, tx, [{ topic: 'elsewhere', payload: {} }], [encodeRoute({ transport: 'kafka', topic: 'orders' })]),
    );
    const deadLetters = createDeadLetters({ pool, schema: w.schema });
    const [dead] = await waitFor('the dead letter', () => deadLetters.list().then((list) => (list.length > 0 ? list : undefined)));
    expect(dead).toMatchObject({ id, reason: 'permanent-error', attempts: 1 });
    expect(dead!.lastError).toMatch(/kafka facade but this relay publishes to bullmq/);
  });
});

it('a facade job is handled by a postbox worker once, through the inbox; a repeated job id is one message', async () => {
  const w = await world();
  await createEffectsTable(pool, w.schema);
  const inbox = createInbox({ pool, schema: w.schema });
  const worker = createBullMQWorker({
    queue: w.queue.name,
    connection: REDIS_URL,
    policies: FAST_POLICY,
    middleware: [inboxMiddleware({ inbox })],
    handler: recordEffect(w.schema),
  });
  cleanups.push(() => worker.stop({ timeoutMs: 2_000 }));
  await worker.start();
  const first = await withTransaction(pool, (tx) => w.facade.using(tx).add('ship', { sku: 'a-1' }, { jobId: 'ship-1' }));
  const again = await withTransaction(pool, (tx) => w.facade.using(tx).add('ship', { sku: 'a-1' }, { jobId: 'ship-1' }));
  const plain = await withTransaction(pool, (tx) => w.facade.using(tx).add('ship', { sku: 'b-2' }));
  expect(again.messageId).toBe(first.messageId); // the job id is the idempotency key
  await waitFor('both effects', async () => (await readEffects(pool, w.schema)).length === 2);
  await waitFor('both jobs to complete', async () => (await w.queue.getJobCounts('completed')).completed === 2);
  expect(await readEffects(pool, w.schema)).toEqual(['ship-1', plain.id].sort());
  expect(await inbox.has(w.queue.name, plain.id)).toBe(true);
});
