/**
 * The whole path against real PostgreSQL and Redis: enqueue in a transaction -> relay -> BullMQ
 * transport -> createBullMQWorker with the inbox middleware; and a poison message through the
 * dead-letter queue, fixed, replayed and handled once.
 */
import { afterAll, expect, it } from 'vitest';
import {
  createBullMQTransport,
  createBullMQWorker,
  listBullMQDeadLetters,
  replayBullMQDeadLetters,
  type BullMQWorkerOptions,
} from '../../adapters/bullmq/index.js';
import { withTransaction } from '../../src/db/queryable.js';
import { NonRetryableError } from '../../src/errors.js';
import { createInbox, type Inbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { silentLogger } from '../../src/logger.js';
import { createOutbox, type Outbox } from '../../src/outbox/enqueue.js';
import { createRelay } from '../../src/relay/relay.js';
import { createRedisAdmin, randomName, REDIS_URL } from '../conformance/bullmq-tools.js';
import { useDatabase } from '../helpers/db.js';
import { createEffectsTable, readEffects, recordEffect, useCleanups } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';
import { deliveryLog, FAST_POLICY, FAST_RELAY, rowCount } from './fixtures/rabbitmq-kit.js';

const { pool, freshSchema } = useDatabase();
const admin = createRedisAdmin();
afterAll(async () => {
  await admin.close();
});

/** Undone after each test, last first. */
const cleanups = useCleanups({ after: () => admin.cleanup() });

interface World {
  readonly schema: string;
  readonly outbox: Outbox;
  readonly inbox: Inbox;
  readonly queue: string;
  work(options: Partial<BullMQWorkerOptions> & Pick<BullMQWorkerOptions, 'handler'>): Promise<void>;
  effects(): Promise<string[]>;
}

async function world(): Promise<World> {
  const schema = await freshSchema();
  await createEffectsTable(pool, schema);
  const queue = randomName('e2e');
  admin.queue(queue);
  admin.queue(`${queue}.dead`);
  const transport = createBullMQTransport({ connection: REDIS_URL, routes: { 'e2e.#': { queue } }, policies: FAST_POLICY });
  cleanups.push(() => transport.close());
  const relay = createRelay({ pool, schema, transport, logger: silentLogger, policies: FAST_POLICY, ...FAST_RELAY });
  await relay.start();
  cleanups.push(() => relay.stop({ timeoutMs: 1_000 }));
  const inbox = createInbox({ pool, schema });
  return {
    schema,
    outbox: createOutbox({ schema }),
    inbox,
    queue,
    async work(options) {
      const worker = createBullMQWorker({ queue, connection: REDIS_URL, policies: FAST_POLICY, ...options, middleware: [...(options.middleware ?? []), inboxMiddleware({ inbox })] });
      cleanups.push(() => worker.stop({ timeoutMs: 2_000 }));
      await worker.start();
    },
    effects: () => readEffects(pool, schema),
  };
}

it('applies the effect of each committed message exactly once, relay to worker through the inbox', async () => {
  const w = await world();
  const log = deliveryLog();
  await w.work({ middleware: [log.middleware], handler: recordEffect(w.schema) });
  const ids = await withTransaction(pool, (tx) =>
    w.outbox.enqueue(tx, Array.from({ length: 20 }, (_, n) => ({ topic: 'e2e.order.created', key: `order-${n % 4}`, payload: { n } }))),
  );
  await expect(
    withTransaction(pool, async (tx) => {
      await w.outbox.enqueue(tx, { topic: 'e2e.order.created', payload: { rolledBack: true } });
      throw new Error('rolled back');
    }),
  ).rejects.toThrow('rolled back');

  await waitFor('every effect', async () => (await w.effects()).length === ids.length);
  await waitFor('the outbox to be empty', async () => (await rowCount(pool, w.schema, 'outbox')) === 0);
  expect(await w.effects()).toEqual([...ids].sort());
  for (const id of ids) expect(await w.inbox.has(w.queue, id)).toBe(true);
  const states = await Promise.all(ids.map((id) => admin.queue(w.queue).getJobState(id)));
  expect(new Set(states)).toEqual(new Set(['completed'])); // job id = message id, each acknowledged
  expect(log.all.some((d) => (d.payload as { rolledBack?: boolean }).rolledBack === true)).toBe(false);
});

it('dead-letters a poison message, and after the fix a replay handles it once', async () => {
  const w = await world();
  let fixed = false;
  const effect = recordEffect(w.schema);
  await w.work({
    handler: async (m, context) => {
      const { sku } = m.json<{ sku?: string }>();
      if (sku === undefined && !fixed) throw new NonRetryableError('sku is missing');
      await effect(m, context);
    },
  });
  const [good, poison] = await withTransaction(pool, (tx) =>
    w.outbox.enqueue(tx, [
      { topic: 'e2e.item', payload: { sku: 'a-1' } },
      { topic: 'e2e.item', payload: { name: 'no sku' } },
    ]),
  );
  await waitFor('the dead letter', async () => (await listBullMQDeadLetters({ connection: REDIS_URL, queue: w.queue })).length === 1);
  const [dead] = await listBullMQDeadLetters({ connection: REDIS_URL, queue: w.queue });
  expect(dead).toMatchObject({ id: poison, messageId: poison, topic: 'e2e.item', reason: 'permanent-error', lastError: 'NonRetryableError: sku is missing' });
  await waitFor('the good effect', async () => (await w.effects()).includes(good!));
  expect(await w.effects()).toEqual([good]);

  fixed = true; // the handler is fixed (deployed again)
  expect(await replayBullMQDeadLetters({ connection: REDIS_URL, queue: w.queue })).toMatchObject({ count: 1, replayed: [{ id: poison, messageId: poison }] });
  await waitFor('the replayed effect', async () => (await w.effects()).length === 2);
  await waitFor('the replayed job to complete', async () => (await admin.queue(w.queue).getJobState(poison!)) === 'completed');
  expect(await w.effects()).toEqual([good, poison].sort());
  expect(await listBullMQDeadLetters({ connection: REDIS_URL, queue: w.queue })).toEqual([]);
});
