/**
 * At-least-once through relay crashes, exactly-once effects through the inbox: a relay runs in a
 * child process (fixtures/relay-child.ts) and is killed with SIGKILL several times while a
 * producer commits messages and a consumer with the inbox middleware writes one side effect per
 * message. Each kill is timed for the middle of a batch (the relay holds a lease on messages of
 * which the consumer already received some), so it leaves a leased batch behind that is partly on
 * the broker; the next relay takes it over when the lease expires and publishes it again.
 */
import { expect, it } from 'vitest';
import { createRabbitMQConnection, createRabbitMQConsumer } from '../../adapters/rabbitmq/index.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { useDatabase } from '../helpers/db.js';
import { createEffectsTable, KEYED_EFFECT_COLUMNS, keyedMessages, produceDuringTest, recordKeyedEffect, useCleanups, waitForEveryEffect } from '../helpers/e2e.js';
import { describeKills, expectEachEffectOnce, expectKeyOrder, expectKilledBatchesRedelivered, expectNoEffectMissing, killRelayMidBatch } from '../helpers/proof.js';
import { DATABASE_URL } from '../helpers/services.js';
import { createAdmin, RABBITMQ_URL, randomName } from '../conformance/rabbitmq-tools.js';
import { deliveryLog, FAST_POLICY, rowCount } from './fixtures/rabbitmq-kit.js';
import { relayChildren } from './fixtures/relay-children.js';

const KEYS = 5;
const PER_KEY = 400; // 2,000 messages
const LEASE_MS = 1_500;
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
// No child survives the test, whatever happened.
const cleanups = useCleanups({ before: () => children.killAll() });

it('delivers every committed message and applies each effect exactly once while the relay process is killed mid-batch again and again', async () => {
  const startedAt = Date.now();
  const schema = await freshSchema();
  await createEffectsTable(pool, schema, KEYED_EFFECT_COLUMNS);
  const outbox = createOutbox({ schema });
  const inbox = createInbox({ pool, schema });

  const admin = await createAdmin();
  cleanups.push(() => admin.close());
  cleanups.push(() => admin.cleanup());
  const exchange = await admin.exchange(randomName('crash-x'), 'topic');
  const queue = await admin.queue(randomName('crash-q'));
  admin.track('queue', `${queue}.dead`, `${queue}.retry.100`);
  await (await admin.channel()).bindQueue(queue, exchange, 'crash.#');

  const connection = createRabbitMQConnection({ url: RABBITMQ_URL, connectionName: randomName('crash-consumer') });
  cleanups.push(() => connection.close());
  const log = deliveryLog();
  let skipped = 0;
  const consumer = createRabbitMQConsumer({
    connection,
    queue,
    prefetch: 50,
    retry: { tiersMs: [100] },
    policies: FAST_POLICY,
    middleware: [log.middleware, inboxMiddleware({ inbox, onDuplicate: () => (skipped += 1) })],
    handler: recordKeyedEffect(schema),
  });
  cleanups.push(() => consumer.stop({ timeoutMs: 2_000 }));
  await consumer.start();

  const childSettings = (generation: number) => ({
    DATABASE_URL,
    RABBITMQ_URL,
    SCHEMA: schema,
    RELAY_ID: `crash-relay-${generation}`,
    ROUTES: JSON.stringify({ 'crash.#': { exchange } }),
    CONNECTION_NAME: randomName('crash-relay'),
    LEASE_MS: String(LEASE_MS),
    BATCH_SIZE: '100',
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

  const duplicates = log.duplicates();
  const reclaimed = log.all.filter((d) => d.publishAttempt > 1);
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  console.log(
    `crash: ${ids.length} messages, ${log.all.length} deliveries, ${duplicates} duplicates (${skipped} skipped by the inbox), ` +
      `${kills.length} kills leaving ${describeKills(kills)} leased/already delivered rows, ` +
      `${reclaimed.length} deliveries of re-claimed messages, ${seconds} s`,
  );

  // Exactly-once effects: one row per message, no more, no less.
  await expectEachEffectOnce(pool, schema, ids);
  await expectNoEffectMissing(pool, schema, ids);
  // The crash path really ran: at least 3 kills left a leased batch of which the consumer already
  // had some messages (a kill that lost the race with the settle is just a restart); after the
  // lease expired the next relay published those batches again, so those messages arrived twice,
  // with publish attempt > 1 on the wire.
  const sentBeforeKill = expectKilledBatchesRedelivered(kills, log);
  expect(skipped).toBe(duplicates);
  expect(await rowCount(pool, schema, 'dead_letters')).toBe(0);
  expect(await admin.messageCount(`${queue}.dead`)).toBe(0);
  // Order survives the crashes too: first deliveries per key in commit order.
  expectKeyOrder(log);
  expect(children.running.size).toBe(0);
});
