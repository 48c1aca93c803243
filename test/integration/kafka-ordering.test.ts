/**
 * Per-key order with several relays and failures, against the real Kafka broker: three relays on
 * one schema, each with its own Kafka transport (its own idempotent producer) wrapped by
 * withInjectedFaults (failures before sending, and after sending: lost acknowledgements that
 * produce real duplicates), a producer committing small transactions while they run, a topic with
 * 4 partitions, and a plain kafkajs consumer recording every record of every partition in arrival
 * order. A key's records share one partition, so per-key order is a partition's log order.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createKafkaTransport } from '../../adapters/kafka/index.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createTopicAdmin, KAFKA_BROKERS, randomTopic, type TopicAdmin } from '../conformance/kafka-tools.js';
import { useDatabase } from '../helpers/db.js';
import { produceDuringTest, useCleanups } from '../helpers/e2e.js';
import { orderViolations } from '../helpers/order.js';
import { expectOneIdPerMessage, shuffledRounds, startFaultyRelays } from '../helpers/proof.js';
import { waitFor } from '../helpers/wait.js';
import { startRecordLog } from './fixtures/kafka-kit.js';
import { rowCount } from './fixtures/rabbitmq-kit.js';

const RELAYS = 3;
const KEYS = 50;
const PER_KEY = 64; // 3,200 messages
const PER_TRANSACTION = 20;
const PARTITIONS = 4;

const { pool, freshSchema } = useDatabase();

let admin: TopicAdmin;
beforeAll(async () => {
  admin = await createTopicAdmin();
});
afterAll(async () => {
  await admin.close();
});

const cleanups = useCleanups({ after: () => admin.cleanup() });

it('keeps per-key order across 3 relays with injected failures before and after sending; duplicates only repeat', async () => {
  const startedAt = Date.now();
  const schema = await freshSchema();
  const outbox = createOutbox({ schema });
  const topic = randomTopic('ordering');
  await admin.create([topic], PARTITIONS);

  // The consumer: plain kafkajs, no dedup, every record of every partition in arrival order.
  const log = await startRecordLog([topic]);
  cleanups.push(() => log.stop());

  const { claimedBy, deadEvents, injected } = await startFaultyRelays({
    schema,
    count: RELAYS,
    cleanups,
    transport: (r) => createKafkaTransport({ brokers: KAFKA_BROKERS, clientId: `postbox-ordering-${r}`, routes: { 'ordering.#': { topic } } }),
    idPrefix: 'kafka-ordering-relay',
  });

  // Keys interleaved, each key's n ascending, in a shuffled key order per round.
  const messages = shuffledRounds(KEYS, PER_KEY, 'ordering.item');
  const ids = await produceDuringTest(cleanups, messages, {
    perTransaction: PER_TRANSACTION,
    maxBacklog: 600,
    delivered: () => log.ids.size,
    enqueue: (batch) => outbox.enqueue(pool, batch),
  });
  expect(ids).toHaveLength(KEYS * PER_KEY);

  await waitFor(`all ${ids.length} messages to be delivered`, () => ids.every((id) => log.ids.has(id)), { timeoutMs: 60_000, intervalMs: 50 });
  await waitFor('the outbox to be empty', async () => (await rowCount(pool, schema, 'outbox')) === 0);

  const deliveries = log.all.map((r) => ({ id: r.id, partition: r.partition, recordKey: r.key, ...(JSON.parse(r.value.toString()) as { key: string; n: number }) }));
  const { before: injectedBefore, after: injectedAfter } = injected();
  const duplicates = deliveries.length - log.ids.size;
  const partitionsUsed = new Set(deliveries.map((d) => d.partition));
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  console.log(
    `kafka ordering: ${ids.length} messages, ${deliveries.length} records, ${duplicates} duplicates, ` +
      `injected failures ${injectedBefore} before + ${injectedAfter} after sending, claimed per relay ${claimedBy.join('/')}, ` +
      `${partitionsUsed.size} partitions, ${seconds} s`,
  );

  expect(orderViolations(deliveries).slice(0, 10)).toEqual([]);
  expect(deadEvents).toEqual([]);
  expect(await rowCount(pool, schema, 'dead_letters')).toBe(0);
  expect(injectedBefore).toBeGreaterThan(0);
  expect(injectedAfter).toBeGreaterThan(0);
  // Only ids we enqueued arrived, and each (key, n) always under the same id: a duplicate is a repeat of one message.
  expectOneIdPerMessage(deliveries);
  expect(new Set(ids)).toEqual(log.ids);
  // The record key is the message key, and one key lives in one partition (that is what makes its order).
  const partitionOf = new Map<string, Set<number>>();
  for (const d of deliveries) {
    expect(d.recordKey).toBe(d.key);
    partitionOf.set(d.key, (partitionOf.get(d.key) ?? new Set()).add(d.partition));
  }
  expect([...partitionOf.values()].filter((p) => p.size > 1)).toEqual([]);
  expect(partitionsUsed.size).toBe(PARTITIONS);
  // Every acknowledgement the faults "lost" makes the relay send that message again: a real duplicate on the wire.
  expect(duplicates).toBeGreaterThanOrEqual(injectedAfter);
  expect(claimedBy.every((n) => n > 0), `claimed per relay: ${claimedBy.join(', ')}`).toBe(true);
});
