/**
 * Losing the broker connection mid-flow: a relay and a consumer (inbox middleware, one side
 * effect per message) run while a producer commits messages, and the broker force-closes the
 * relay's and the consumer's connections (by connection name, rabbitmqctl) three times. Nothing
 * is lost, nothing dies, each effect happens once, and the relay really felt the loss: publishes
 * that failed (connection lost before the confirm) and were retried, or batches put back as
 * transport-unavailable.
 *
 * The relay talks to the broker through the TCP proxy of rabbitmq-tools, which holds the
 * broker's replies while the close is issued and then drops them with the connection: the loss
 * lands while the relay waits for confirms (its worst moment) every time, instead of only when
 * the ~0.4 s rabbitmqctl call happens to end inside a publish.
 */
import { expect, it } from 'vitest';
import {
  createRabbitMQConnection,
  createRabbitMQConsumer,
  createRabbitMQTransport,
  type RabbitMQConsumerEvent,
} from '../../adapters/rabbitmq/index.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { useDatabase } from '../helpers/db.js';
import { createEffectsTable, keyedMessages, produceDuringTest, recordEffect, useCleanups, waitForEveryEffect } from '../helpers/e2e.js';
import { expectEachEffectOnce, expectKeyOrder, startWatchedRelay } from '../helpers/proof.js';
import { waitFor } from '../helpers/wait.js';
import { createAdmin, RABBITMQ_URL, randomName, startProxy } from '../conformance/rabbitmq-tools.js';
import { deliveryLog, forceCloseNamed, rowCount } from './fixtures/rabbitmq-kit.js';

/** Few keys: a batch of 100 is published in 10 waves, so the relay is busy publishing most of the time. */
const KEYS = 10;
const PER_KEY = 150; // 1,500 messages
const CLOSES = 3;
const FIRST_CLOSE_AT = 150;
const CLOSE_EVERY = 300;
const RECONNECT = { initialMs: 50, maxMs: 500 };

const { pool, freshSchema } = useDatabase();

const cleanups = useCleanups();

it('delivers everything, each effect once and nothing dead-lettered, while the broker closes the relay and consumer connections 3 times mid-flow', async () => {
  const startedAt = Date.now();
  const schema = await freshSchema();
  await createEffectsTable(pool, schema);
  const outbox = createOutbox({ schema });
  const inbox = createInbox({ pool, schema });

  const admin = await createAdmin();
  cleanups.push(() => admin.close());
  cleanups.push(() => admin.cleanup());
  const exchange = await admin.exchange(randomName('loss-x'), 'topic');
  const queue = await admin.queue(randomName('loss-q'));
  admin.track('queue', `${queue}.dead`, `${queue}.retry.100`);
  await (await admin.channel()).bindQueue(queue, exchange, 'loss.#');

  // The consumer, on a named connection of its own.
  const consumerName = randomName('loss-consumer');
  const consumerConnection = createRabbitMQConnection({ url: RABBITMQ_URL, connectionName: consumerName, reconnect: RECONNECT });
  cleanups.push(() => consumerConnection.close());
  const log = deliveryLog();
  const consumerEvents: RabbitMQConsumerEvent[] = [];
  let skipped = 0;
  const consumer = createRabbitMQConsumer({
    connection: consumerConnection,
    queue,
    prefetch: 50,
    retry: { tiersMs: [100] },
    policies: { default: { maxAttempts: 20, backoff: { initialMs: 100, maxMs: 100, jitter: 'none' } } },
    onEvent: (e) => consumerEvents.push(e),
    middleware: [log.middleware, inboxMiddleware({ inbox, onDuplicate: () => (skipped += 1) })],
    handler: recordEffect(schema),
  });
  cleanups.push(() => consumer.stop({ timeoutMs: 2_000 }));
  await consumer.start();
  const count = (type: RabbitMQConsumerEvent['type']) => consumerEvents.filter((e) => e.type === type).length;

  // The relay, with a transport owning its named connection, through the proxy.
  const proxy = await startProxy();
  cleanups.push(() => proxy.close());
  const relayName = randomName('loss-relay');
  const transport = createRabbitMQTransport({ url: proxy.url, connectionName: relayName, reconnect: RECONNECT, routes: { 'loss.#': { exchange } } });
  cleanups.push(() => transport.close());
  let relayDisconnects = 0;
  transport.connection.on('disconnected', ({ error }) => {
    if (error !== undefined) relayDisconnects += 1;
  });
  const relay = await startWatchedRelay({
    schema,
    transport,
    cleanups,
    poolSize: 4,
    policies: { default: { maxAttempts: 30, backoff: { initialMs: 10, multiplier: 2, maxMs: 100, jitter: 'full' } } },
    publishErrors: true,
  });
  const { unavailable, failedPublishes, deaths } = relay;

  const messages = keyedMessages(KEYS, PER_KEY, 'loss.item');
  // Throttled on what the relay published (not on the slower consumer), so the relay always has
  // a backlog: a forced close finds it publishing, not idle.
  const producing = produceDuringTest(cleanups, messages, {
    perTransaction: 10,
    maxBacklog: 400,
    delivered: () => relay.published,
    enqueue: (batch) => outbox.enqueue(pool, batch),
  });

  /** Each close: what the relay had published then, and the connections closed. */
  const closes: Array<{ at: number; relay: number; consumer: number }> = [];
  const closing = (async () => {
    let threshold = FIRST_CLOSE_AT;
    while (closes.length < CLOSES) {
      await waitFor('both connections to be up', () => transport.connection.isConnected && consumerConnection.isConnected);
      await waitFor(`the relay to have published ${threshold} messages`, () => relay.published >= threshold, { timeoutMs: 30_000, intervalMs: 2 });
      const at = relay.published;
      proxy.holdReplies(); // the relay's confirms stall: it is mid-publish when the broker closes
      let closed: Map<string, number>;
      try {
        closed = await forceCloseNamed([relayName, consumerName]);
      } finally {
        proxy.cut(); // the held confirms go with the connection: the relay never sees them
        proxy.releaseReplies(); // stop holding, for the reconnect
      }
      closes.push({ at, relay: closed.get(relayName)!, consumer: closed.get(consumerName)! });
      threshold = relay.published + CLOSE_EVERY;
      await waitFor('the relay connection to notice', () => relayDisconnects === closes.length);
    }
  })();
  const [ids] = await Promise.all([producing, closing]);
  expect(ids).toHaveLength(KEYS * PER_KEY);

  await waitForEveryEffect(pool, schema, ids, log.ids);
  await waitFor('the consumer to resume after every close', () => count('consumer:resumed') >= closes.length);

  const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
  console.log(
    `broker-loss: ${ids.length} messages, ${log.all.length} deliveries, ${log.duplicates()} duplicates (${skipped} skipped by the inbox), ` +
      `${closes.length} forced closes at ${closes.map((c) => c.at).join('/')} published: relay disconnected ${relayDisconnects}x, ` +
      `transport-unavailable ${unavailable.length}, failed publishes ${failedPublishes.length}, ` +
      `consumer channel lost ${count('consumer:channel-lost')}x / resumed ${count('consumer:resumed')}x, ${seconds} s`,
  );

  // 3 closes mid-flow, each closing both connections, and both noticed every one.
  expect(closes.length).toBe(CLOSES);
  for (const close of closes) expect(close).toMatchObject({ relay: 1, consumer: 1 });
  expect(closes.every((c) => c.at < ids.length)).toBe(true);
  expect(relayDisconnects).toBe(closes.length);
  expect(count('consumer:channel-lost')).toBe(closes.length);
  // The relay felt it: batches put back (transport unavailable) or publishes that failed and were retried.
  expect(relay.felt()).toBeGreaterThan(0);
  // Nothing lost, nothing dead, each effect once, order kept.
  await expectEachEffectOnce(pool, schema, ids);
  expect(new Set(ids)).toEqual(log.ids);
  expect(deaths).toEqual([]);
  expect(await rowCount(pool, schema, 'dead_letters')).toBe(0);
  expect(await admin.messageCount(`${queue}.dead`)).toBe(0);
  expect(skipped).toBe(log.duplicates());
  expectKeyOrder(log);
});
