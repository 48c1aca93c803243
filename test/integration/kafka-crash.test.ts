/**
 * At-least-once through relay crashes, exactly-once effects through the inbox, with Kafka: a relay
 * runs in a child process (fixtures/relay-child.ts, POSTBOX_CHILD_TRANSPORT=kafka) and is killed
 * with SIGKILL several times while a producer commits messages and a Kafka consumer with the inbox
 * middleware writes one side effect per message through ctx.tx. The child publishes each claimed
 * batch of 100 in produce requests of 10 (publishChunkSize) and sees each acknowledgement
 * ACK_DELAY_MS late (a slow acknowledgement path; against a local broker a whole batch is written
 * and settled within a few milliseconds otherwise), so a batch reaches the broker over several
 * requests before it is settled; each kill is timed for that moment (the relay holds a lease on
 * messages of which the consumer already received some). The next relay takes the batch
 * over when the lease expires and publishes it again: those messages arrive twice, with
 * postbox-publish-attempt > 1, and the inbox skips the repeats.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createKafkaConsumer, type KafkaConsumerEvent } from '../../adapters/kafka/index.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createTopicAdmin, KAFKA_BROKERS, randomTopic, type TopicAdmin } from '../conformance/kafka-tools.js';
import { useDatabase } from '../helpers/db.js';
import { createEffectsTable, KEYED_EFFECT_COLUMNS, keyedMessages, produceDuringTest, recordKeyedEffect, useCleanups, waitForEveryEffect } from '../helpers/e2e.js';
import { describeKills, expectEachEffectOnce, expectKeyOrder, expectKilledBatchesRedelivered, expectNoEffectMissing, killRelayMidBatch } from '../helpers/proof.js';
import { DATABASE_URL } from '../helpers/services.js';
import { QUICK_GROUP, recordsIn } from './fixtures/kafka-kit.js';
import { relayChildren } from './fixtures/relay-children.js';
import { deliveryLog, FAST_POLICY, rowCount } from './fixtures/rabbitmq-kit.js';

const KEYS = 5;
const PER_KEY = 400; // 2,000 messages
const LEASE_MS = 1_500;
/** The child holds each produce request's result this long after Kafka acknowledged it (a slow ack path). */
const ACK_DELAY_MS = 10;
/**
 * Kills that must hit a partly delivered batch, tried at most MAX_KILLS times: the first after
 * FIRST_KILL_AT distinct deliveries, then every KILL_EVERY more.
 */
const KILLS = 4;
const MAX_KILLS = 8;
const FIRST_KILL_AT = 200;
const KILL_EVERY = 150;

const { pool, freshSchema } = useDatabase();
const children = relayChildren();

let admin: TopicAdmin;
beforeAll(async () => {
  admin = await createTopicAdmin();
});
afterAll(async () => {
  await admin.close();
});

// No child survives the test, whatever happened.
const cleanups = useCleanups({ before: () => children.killAll(), after: () => admin.cleanup() });

it('delivers every committed message and applies each effect exactly once while the Kafka relay process is killed mid-batch again and again', async () => {
  const startedAt = Date.now();
  const schema = await freshSchema();
  await createEffectsTable(pool, schema, KEYED_EFFECT_COLUMNS);
  const outbox = createOutbox({ schema });
  const inbox = createInbox({ pool, schema });
  const topic = randomTopic('crash');
  const groupId = randomTopic('crash-group');
  await admin.create([topic], 3);
  admin.track(`${topic}.retry`, `${topic}.dead`);

  const log = deliveryLog();
  const consumerEvents: KafkaConsumerEvent[] = [];
  let skipped = 0;
  const consumer = createKafkaConsumer({
    brokers: KAFKA_BROKERS,
    groupId,
    topics: [topic],
    ...QUICK_GROUP,
    partitionsConsumedConcurrently: 3,
    policies: FAST_POLICY,
    onEvent: (e) => consumerEvents.push(e),
    middleware: [log.middleware, inboxMiddleware({ inbox, onDuplicate: () => (skipped += 1) })],
    handler: recordKeyedEffect(schema),
  });
  cleanups.push(() => consumer.stop({ timeoutMs: 2_000 }));
  await consumer.start();

  const childSettings = (generation: number) => ({
    TRANSPORT: 'kafka',
    DATABASE_URL,
    KAFKA_BROKERS: KAFKA_BROKERS.join(','),
    KAFKA_CLIENT_ID: `postbox-crash-relay-${generation}`,
    SCHEMA: schema,
    RELAY_ID: `kafka-crash-relay-${generation}`,
    ROUTES: JSON.stringify({ 'crash.#': { topic } }),
    LEASE_MS: String(LEASE_MS),
    BATCH_SIZE: '100',
    CHUNK_SIZE: '10',
    ACK_DELAY_MS: String(ACK_DELAY_MS),
  });
  let produced = false;
  const messages = keyedMessages(KEYS, PER_KEY, 'crash.item');
  // The producer starts while the first relay boots, so the relay starts behind and claims full batches.
  const producing = produceDuringTest(cleanups, messages, {
    perTransaction: 10,
    maxBacklog: 400,
    delivered: () => log.ids.size,
    enqueue: (batch) => outbox.enqueue(pool, batch),
  }).finally(() => (produced = true));
  const killing = killRelayMidBatch({
    pool,
    schema,
    delivered: log.ids,
    total: messages.length,
    produced: () => produced,
    start: (generation) => children.start(childSettings(generation)),
    kill: children.kill,
    kills: KILLS,
    maxKills: MAX_KILLS,
    firstKillAt: FIRST_KILL_AT,
    killEvery: KILL_EVERY,
  });
  const [ids, { kills, relay }] = await Promise.all([producing, killing]);
  expect(ids).toHaveLength(KEYS * PER_KEY);

  await waitForEveryEffect(pool, schema, ids, log.ids);
  await children.kill(relay, 'SIGTERM');
  expect(relay.exitCode).toBe(0); // the last relay stopped cleanly

  const duplicates = log.duplicates();
  const reclaimed = log.all.filter((d) => d.publishAttempt > 1);
  const onTheWire = await recordsIn(admin, topic);
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  console.log(
    `kafka crash: ${ids.length} messages, ${onTheWire} records, ${log.all.length} deliveries, ${duplicates} duplicates (${skipped} skipped by the inbox), ` +
      `${kills.length} kills leaving ${describeKills(kills)} leased/already delivered rows, ` +
      `${reclaimed.length} deliveries of re-claimed messages, ${seconds} s`,
  );

  // Exactly-once effects: one row per message, no more, no less.
  await expectEachEffectOnce(pool, schema, ids);
  await expectNoEffectMissing(pool, schema, ids);
  // The crash path really ran: at least 3 kills left a leased batch of which the consumer already
  // had some messages (a kill that lost the race with the settle is just a restart); after the
  // lease expired the next relay published those batches again, so those messages are on the
  // topic twice, arrived twice, with publish attempt > 1 on the wire.
  const sentBeforeKill = expectKilledBatchesRedelivered(kills, log);
  expect(onTheWire).toBeGreaterThanOrEqual(ids.length + sentBeforeKill.length);
  expect(skipped).toBe(duplicates);
  expect(await rowCount(pool, schema, 'dead_letters')).toBe(0);
  expect(consumerEvents.filter((e) => e.type !== 'consumer:crashed')).toEqual([]); // no handler failed: nothing retried or dead-lettered
  // Order survives the crashes too: first deliveries per key in commit order.
  expectKeyOrder(log);
  expect(children.running.size).toBe(0);
});
