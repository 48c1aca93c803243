/**
 * Restarting the Kafka broker mid-flow: a relay and a Kafka consumer (inbox middleware, one side
 * effect per message through ctx.tx) run while a producer commits messages, and the broker is
 * restarted twice (scripts/kafka.sh restart: TERM, then a fresh JVM on the same state; topics,
 * records and committed offsets survive) while the relay has a backlog to publish. Nothing is
 * lost, nothing dies, each effect happens once, per-key order holds, and the relay really felt
 * each outage: publishes that failed and were scheduled for retry, or batches put back as
 * transport-unavailable, during every restart.
 *
 * The first restart comes whenever the threshold is reached. The second lands at the relay's worst
 * moment: its connections' replies are held (holdableClient) until the broker has written records
 * of a produce request, the broker goes down, and the held connections are cut, so those
 * acknowledgements are lost: the relay cannot know the records are on the topic, and must send
 * them again (duplicates on the wire are allowed; loss and reordering are not).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createKafkaConsumer, createKafkaTransport, type KafkaConsumerEvent } from '../../adapters/kafka/index.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createTopicAdmin, KAFKA_BROKERS, randomTopic, type TopicAdmin } from '../conformance/kafka-tools.js';
import { useDatabase } from '../helpers/db.js';
import { createEffectsTable, keyedMessages, produceDuringTest, recordEffect, useCleanups, waitForEveryEffect } from '../helpers/e2e.js';
import { expectEachEffectOnce, expectKeyOrder, startWatchedRelay } from '../helpers/proof.js';
import { waitFor } from '../helpers/wait.js';
import { brokerAnswering, holdableClient, QUICK_GROUP, recordsIn } from './fixtures/kafka-kit.js';
import { deliveryLog, rowCount } from './fixtures/rabbitmq-kit.js';

const run = promisify(execFile);
const KAFKA_SCRIPT = fileURLToPath(new URL('../../scripts/kafka.sh', import.meta.url));

const KEYS = 10;
const PER_KEY = 150; // 1,500 messages
const RESTARTS = 2;
const FIRST_RESTART_AT = 150;
const RESTART_EVERY = 300;
const PUBLISH_TIMEOUT_MS = 3_000;

const { pool, freshSchema } = useDatabase();

let admin: TopicAdmin | undefined;
beforeAll(async () => {
  admin = await createTopicAdmin();
});
afterAll(async () => {
  await admin?.close();
});

const cleanups = useCleanups({ after: () => admin?.cleanup() });

async function restartBroker(): Promise<number> {
  const started = Date.now();
  await run('bash', [KAFKA_SCRIPT, 'restart'], { timeout: 60_000 });
  return Date.now() - started;
}

it('delivers everything in key order, each effect once and nothing dead-lettered, while the Kafka broker restarts twice mid-flow', async () => {
  const startedAt = Date.now();
  const schema = await freshSchema();
  await createEffectsTable(pool, schema);
  const outbox = createOutbox({ schema });
  const inbox = createInbox({ pool, schema });
  const topic = randomTopic('restart');
  const groupId = randomTopic('restart-group');
  await admin!.create([topic], 3);
  admin!.track(`${topic}.retry`, `${topic}.dead`);

  const log = deliveryLog();
  const consumerEvents: KafkaConsumerEvent[] = [];
  let skipped = 0;
  const consumer = createKafkaConsumer({
    brokers: KAFKA_BROKERS,
    groupId,
    topics: [topic],
    ...QUICK_GROUP,
    partitionsConsumedConcurrently: 3,
    publishTimeoutMs: PUBLISH_TIMEOUT_MS,
    policies: { default: { maxAttempts: 20, backoff: { initialMs: 100, maxMs: 100, jitter: 'none' } } },
    onEvent: (e) => consumerEvents.push(e),
    middleware: [log.middleware, inboxMiddleware({ inbox, onDuplicate: () => (skipped += 1) })],
    handler: recordEffect(schema),
  });
  cleanups.push(() => consumer.stop({ timeoutMs: 2_000 }));
  await consumer.start();

  const wire = holdableClient('postbox-restart-relay', PUBLISH_TIMEOUT_MS);
  const transport = createKafkaTransport({ kafka: wire.kafka, publishTimeoutMs: PUBLISH_TIMEOUT_MS, routes: { 'restart.#': { topic } } });
  cleanups.push(() => transport.close());
  const relay = await startWatchedRelay({
    schema,
    transport,
    cleanups,
    poolSize: 4,
    policies: { default: { maxAttempts: 200, backoff: { initialMs: 10, multiplier: 2, maxMs: 250, jitter: 'full' } } },
    publishErrors: true,
  });
  const { unavailable, failedPublishes, deaths } = relay;

  const messages = keyedMessages(KEYS, PER_KEY, 'restart.item');
  // Throttled on what the relay published (not on the consumer), so the relay always has a
  // backlog: a restart finds it publishing, not idle.
  const producing = produceDuringTest(cleanups, messages, {
    perTransaction: 10,
    maxBacklog: 300,
    delivered: () => relay.published,
    enqueue: (batch) => outbox.enqueue(pool, batch),
  });

  /**
   * Each restart: published before it, rows waiting in the outbox then, records the broker wrote
   * from just before the relay's replies were held until the check (second restart only; the
   * acknowledgement of the last request among them is held), connections cut, failures the relay
   * saw during it, how long it took.
   */
  const restarts: Array<{ at: number; waiting: number; writtenAroundHold: number; cut: number; failures: number; ms: number }> = [];
  const restarting = (async () => {
    let threshold = FIRST_RESTART_AT;
    while (restarts.length < RESTARTS) {
      await waitFor(`the relay to have published ${threshold} messages`, () => relay.published >= threshold, { timeoutMs: 30_000, intervalMs: 2 });
      const at = relay.published;
      const waiting = await rowCount(pool, schema, 'outbox');
      const before = relay.felt();
      let writtenAroundHold = 0;
      let cut = 0;
      let restart: Promise<number>;
      if (restarts.length === 0) {
        restart = restartBroker();
      } else {
        // The worst moment: records on the topic, their acknowledgement on its way back.
        const onTopic = await recordsIn(admin!, topic);
        wire.hold();
        try {
          // The relay sends one produce request at a time: once the topic stops growing for a
          // while after the hold, its last request was written and its acknowledgement is held.
          let last = onTopic;
          let changedAt = Date.now();
          writtenAroundHold = await waitFor(
            'the relay to write records and wait for their held acknowledgement',
            async () => {
              const now = await recordsIn(admin!, topic);
              if (now !== last) [last, changedAt] = [now, Date.now()];
              return now > onTopic && Date.now() - changedAt >= 150 ? now - onTopic : 0;
            },
            { timeoutMs: 2_500, intervalMs: 10 },
          );
          restart = restartBroker();
          await waitFor('the broker to go down', async () => !(await brokerAnswering()), { timeoutMs: 15_000, intervalMs: 20 });
        } finally {
          cut = wire.cut(); // the held acknowledgements go with the connections
        }
      }
      const ms = await restart;
      // The broker is back: the relay must publish again before the next restart.
      await waitFor('the relay to publish again after the restart', () => relay.published > at + 50, { timeoutMs: 30_000, intervalMs: 10 });
      restarts.push({ at, waiting, writtenAroundHold, cut, failures: relay.felt() - before, ms });
      threshold = relay.published + RESTART_EVERY;
    }
  })();
  const [ids] = await Promise.all([producing, restarting]);
  expect(ids).toHaveLength(KEYS * PER_KEY);

  await waitForEveryEffect(pool, schema, ids, log.ids);

  const count = (type: KafkaConsumerEvent['type']) => consumerEvents.filter((e) => e.type === type).length;
  const onTheWire = await recordsIn(admin!, topic);
  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  console.log(
    `kafka broker-restart: ${ids.length} messages, ${onTheWire} records, ${log.all.length} deliveries, ${log.duplicates()} duplicates (${skipped} skipped by the inbox), ` +
      `${restarts.length} restarts at ${restarts
        .map((r) => `${r.at} published/${r.waiting} waiting/${r.writtenAroundHold} written around the hold/${r.cut} cut/${r.failures} failures/${r.ms} ms`)
        .join(', ')}: ` +
      `transport-unavailable ${unavailable.length}, failed publishes ${failedPublishes.length}, ` +
      `consumer crashed ${count('consumer:crashed')}x, errors ${count('consumer:error')}, ${seconds} s`,
  );

  // Two restarts mid-flow, each with messages waiting to be published, and each one felt by the relay.
  expect(restarts).toHaveLength(RESTARTS);
  for (const r of restarts) {
    expect(r.waiting, 'rows in the outbox when the broker went down').toBeGreaterThan(0);
    expect(r.at).toBeLessThan(ids.length);
    expect(r.failures, 'failed publishes or transport-unavailable events during the restart').toBeGreaterThan(0);
  }
  // The second restart took acknowledgements with it: the relay had to send records again that
  // were already on the topic (a second copy on the wire, under a new producer id).
  expect(restarts[1]!.writtenAroundHold).toBeGreaterThan(0);
  expect(restarts[1]!.cut).toBeGreaterThan(0);
  expect(onTheWire, 'records on the topic: more than the messages, as acknowledgements were lost').toBeGreaterThan(ids.length);
  // Nothing lost, nothing dead, each effect once, order kept.
  await expectEachEffectOnce(pool, schema, ids);
  expect(new Set(ids)).toEqual(log.ids);
  expect(deaths).toEqual([]);
  expect(await rowCount(pool, schema, 'dead_letters')).toBe(0);
  expect(await recordsIn(admin!, `${topic}.dead`)).toBe(0);
  expect(count('message:dead-lettered')).toBe(0);
  expect(skipped).toBe(log.duplicates());
  expectKeyOrder(log);
});
