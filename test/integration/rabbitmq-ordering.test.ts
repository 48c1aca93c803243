/**
 * Per-key order with several relays and failures, against the real broker: three relays on one
 * schema, each with its own RabbitMQ connection wrapped by withInjectedFaults (failures before
 * sending, and after sending: lost confirms that produce real duplicates), a producer committing
 * small transactions while they run, and a plain amqplib consumer recording arrival order.
 */
import amqp from 'amqplib';
import { expect, it } from 'vitest';
import { createRabbitMQTransport } from '../../adapters/rabbitmq/index.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { useDatabase } from '../helpers/db.js';
import { produceDuringTest, useCleanups } from '../helpers/e2e.js';
import { orderViolations } from '../helpers/order.js';
import { expectOneIdPerMessage, shuffledRounds, startFaultyRelays } from '../helpers/proof.js';
import { waitFor } from '../helpers/wait.js';
import { createAdmin, RABBITMQ_URL, randomName } from '../conformance/rabbitmq-tools.js';
import { rowCount } from './fixtures/rabbitmq-kit.js';

const RELAYS = 3;
const KEYS = 50;
const PER_KEY = 60; // 3,000 messages
const PER_TRANSACTION = 20;

const { pool, freshSchema } = useDatabase();

const cleanups = useCleanups();

it('keeps per-key order across 3 relays with injected failures before and after sending; duplicates only repeat', async () => {
  const startedAt = Date.now();
  const schema = await freshSchema();
  const outbox = createOutbox({ schema });

  const admin = await createAdmin();
  cleanups.push(() => admin.close());
  cleanups.push(() => admin.cleanup());
  const exchange = await admin.exchange(randomName('ordering-x'), 'topic');
  const queue = await admin.queue(randomName('ordering-q'));
  await (await admin.channel()).bindQueue(queue, exchange, 'ordering.#');

  // The consumer: plain amqplib, no dedup, every delivery in arrival order.
  const deliveries: Array<{ id: string; key: string; n: number }> = [];
  const delivered = new Set<string>();
  const consumerConnection = await amqp.connect(RABBITMQ_URL);
  cleanups.push(() => consumerConnection.close().catch(() => undefined));
  const consumerChannel = await consumerConnection.createChannel();
  await consumerChannel.consume(
    queue,
    (raw) => {
      if (raw === null) return;
      const { key, n } = JSON.parse(raw.content.toString()) as { key: string; n: number };
      deliveries.push({ id: String(raw.properties.messageId), key, n });
      delivered.add(String(raw.properties.messageId));
    },
    { noAck: true },
  );

  const { claimedBy, deadEvents, injected } = await startFaultyRelays({
    schema,
    count: RELAYS,
    cleanups,
    transport: (r) => createRabbitMQTransport({ url: RABBITMQ_URL, connectionName: randomName(`ordering-relay-${r}`), routes: { 'ordering.#': { exchange } } }),
    idPrefix: 'ordering-relay',
  });

  // Keys interleaved, each key's n ascending, in a shuffled key order per round.
  const messages = shuffledRounds(KEYS, PER_KEY, 'ordering.item');
  const ids = await produceDuringTest(cleanups, messages, {
    perTransaction: PER_TRANSACTION,
    maxBacklog: 600,
    delivered: () => delivered.size,
    enqueue: (batch) => outbox.enqueue(pool, batch),
  });
  expect(ids).toHaveLength(KEYS * PER_KEY);

  await waitFor(`all ${ids.length} messages to be delivered`, () => ids.every((id) => delivered.has(id)), { timeoutMs: 60_000, intervalMs: 50 });
  await waitFor('the outbox to be empty', async () => (await rowCount(pool, schema, 'outbox')) === 0);

  const { before: injectedBefore, after: injectedAfter } = injected();
  const duplicates = deliveries.length - delivered.size;
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  console.log(
    `ordering: ${ids.length} messages, ${deliveries.length} deliveries, ${duplicates} duplicates, ` +
      `injected failures ${injectedBefore} before + ${injectedAfter} after sending, claimed per relay ${claimedBy.join('/')}, ${seconds} s`,
  );

  expect(orderViolations(deliveries).slice(0, 10)).toEqual([]);
  expect(deadEvents).toEqual([]);
  expect(await rowCount(pool, schema, 'dead_letters')).toBe(0);
  expect(injectedBefore).toBeGreaterThan(0);
  expect(injectedAfter).toBeGreaterThan(0);
  // Only ids we enqueued arrived, and each (key, n) always under the same id: a duplicate is a repeat of one message.
  expectOneIdPerMessage(deliveries);
  expect(new Set(ids)).toEqual(delivered);
  // Every confirm the faults "lost" makes the relay send that message again: a real duplicate on the wire.
  expect(duplicates).toBeGreaterThanOrEqual(injectedAfter);
  expect(claimedBy.every((n) => n > 0), `claimed per relay: ${claimedBy.join(', ')}`).toBe(true);
});
