/**
 * The whole path against real PostgreSQL and Kafka: enqueue in a transaction -> relay -> Kafka
 * transport -> createKafkaConsumer with the inbox middleware. Each test has its own schema, topics
 * (created with the admin, deleted after) and consumer group, and stops its relay and consumers in
 * afterEach.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConsumerMode,
  createKafkaConsumer,
  createKafkaTransport,
  KafkaHeader,
  replayKafkaDeadLetters,
  type KafkaConsumer,
  type KafkaConsumerEvent,
  type KafkaConsumerOptions,
  type KafkaTransport,
} from '../../adapters/kafka/index.js';
import type { ConsumedMessage } from '../../src/consumer/types.js';
import { withTransaction } from '../../src/db/queryable.js';
import { ErrorCode } from '../../src/errors.js';
import { createInbox, type Inbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { Header } from '../../src/message.js';
import { createDeadLetters } from '../../src/outbox/dead-letters.js';
import { createOutbox, type Outbox } from '../../src/outbox/enqueue.js';
import type { RelayOptions } from '../../src/relay/options.js';
import type { Relay } from '../../src/relay/relay.js';
import { createTopicAdmin, KAFKA_BROKERS, randomTopic, type TopicAdmin } from '../conformance/kafka-tools.js';
import { useDatabase } from '../helpers/db.js';
import {
  createEffectsTable,
  enqueueRolledBack,
  expectNoRows,
  expectOrderCreated,
  ORDER_CREATED,
  readEffects,
  recordEffect,
  relayIdle,
  startCountedRelay,
  useCleanups,
} from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';
import { QUICK_GROUP, recordsIn, startRecordLog } from './fixtures/kafka-kit.js';
import { deliveryLog, FAST_POLICY, rowCount } from './fixtures/rabbitmq-kit.js';

const { pool, freshSchema } = useDatabase();

let admin: TopicAdmin;
beforeAll(async () => {
  admin = await createTopicAdmin();
});
afterAll(async () => {
  await admin.close();
});

/** Undone after each test, last first: consumers, readers, relay, transport; then the topics. */
const cleanups = useCleanups({ after: () => admin.cleanup() });

interface World {
  readonly schema: string;
  readonly outbox: Outbox;
  readonly inbox: Inbox;
  /** The Kafka topic events.# is routed to (1 partition: one log, one order). */
  readonly topic: string;
  readonly groupId: string;
  readonly transport: KafkaTransport;
  readonly relay: Relay;
  claims(): number;
  /** A consumer of `topic` in group `groupId`, stopped after the test. */
  consume(options: Partial<KafkaConsumerOptions> & Pick<KafkaConsumerOptions, 'handler'>): Promise<KafkaConsumer>;
  effects(): Promise<string[]>;
}

async function world(options: { readonly routes?: Record<string, { topic: string }>; readonly relay?: Partial<RelayOptions> } = {}): Promise<World> {
  const schema = await freshSchema();
  await createEffectsTable(pool, schema);
  const outbox = createOutbox({ schema });
  const inbox = createInbox({ pool, schema });
  const topic = randomTopic('e2e');
  const groupId = randomTopic('e2e-group');
  await admin.create([topic], 1);
  admin.track(`${topic}.retry`, `${topic}.dead`);
  const transport = createKafkaTransport({ brokers: KAFKA_BROKERS, clientId: 'postbox-e2e', routes: { 'events.#': { topic }, ...options.routes } });
  cleanups.push(() => transport.close());
  const { relay, claims } = await startCountedRelay(pool, schema, transport, cleanups, options.relay);
  return {
    schema,
    outbox,
    inbox,
    topic,
    groupId,
    transport,
    relay,
    claims,
    async consume(consumerOptions) {
      const consumer = createKafkaConsumer({ brokers: KAFKA_BROKERS, groupId, topics: [topic], policies: FAST_POLICY, ...QUICK_GROUP, ...consumerOptions });
      cleanups.push(() => consumer.stop({ timeoutMs: 2_000 }));
      await consumer.start();
      return consumer;
    },
    effects: () => readEffects(pool, schema),
  };
}

describe('kafka end to end: producing and consuming', () => {
  it('delivers a committed message to the Kafka consumer with its id, key, headers and payload, and applies its effect once through the inbox', async () => {
    const w = await world();
    const log = deliveryLog();
    const seen: ConsumedMessage[] = [];
    const effect = recordEffect(w.schema);
    await w.consume({
      middleware: [log.middleware, inboxMiddleware({ inbox: w.inbox })],
      handler: async (m, context) => {
        seen.push(m);
        await effect(m, context);
      },
    });
    const id = await withTransaction(pool, (tx) => w.outbox.enqueue(tx, ORDER_CREATED));

    await waitFor('the delivery', () => seen.length === 1);
    expectOrderCreated(seen[0], id, { [Header.CorrelationId]: 'corr-7', [KafkaHeader.ContentType]: 'application/json' });
    await waitFor('the inbox record', () => w.inbox.has(w.groupId, id));
    expect(await w.effects()).toEqual([id]);
    await relayIdle(pool, w.schema, w.claims);
    expect(log.all.map((d) => d.id)).toEqual([id]);
    expect(await recordsIn(admin, w.topic)).toBe(1); // one record on the wire, keyed by the message key
    await waitFor('the offset to be committed', async () => (await admin.committed(w.groupId, w.topic)).get(0) === 1);
  });

  it('never publishes a message whose transaction rolled back', async () => {
    const w = await world();
    const log = deliveryLog();
    await w.consume({ middleware: [log.middleware, inboxMiddleware({ inbox: w.inbox })], handler: recordEffect(w.schema) });

    const rolledBack = await enqueueRolledBack(pool, w.outbox);
    const committed = await withTransaction(pool, (tx) => w.outbox.enqueue(tx, { topic: 'events.rollback', key: 'rb', payload: { name: 'B' } }));

    await waitFor('B to be delivered', () => log.ids.has(committed));
    await relayIdle(pool, w.schema, w.claims);
    expect(log.all.map((d) => [d.id, d.payload])).toEqual([[committed, { name: 'B' }]]);
    expect(await recordsIn(admin, w.topic)).toBe(1); // the topic holds B and nothing else
    expect(await w.effects()).toEqual([committed]);
    await expectNoRows(pool, w.schema, rolledBack, ['outbox', 'dead_letters', 'outbox_published']);
  });
});

describe('kafka end to end: failures are retried, dead-lettered and replayed, never lost', () => {
  it('dead-letters a message routed to a missing Kafka topic as unroutable after 3 attempts, and replays it with the same id once the topic exists', async () => {
    const lonely = randomTopic('e2e-lonely');
    admin.track(lonely);
    const w = await world({
      routes: { 'lonely.#': { topic: lonely } },
      relay: {
        policies: {
          ...FAST_POLICY,
          topics: { 'lonely.#': { maxAttempts: 3, backoff: { initialMs: 5, multiplier: 1, maxMs: 5, jitter: 'none' } } },
        },
      },
    });
    const deaths: Array<{ id: string; reason: string }> = [];
    const retries: Array<{ id: string; attempt: number }> = [];
    w.relay.on('message:dead-lettered', (e) => deaths.push(e));
    w.relay.on('message:retry-scheduled', (e) => retries.push(e));
    const id = await w.outbox.enqueue(pool, { topic: 'lonely.ping', key: 'ping-1', payload: { ping: 1 }, headers: { 'x-why': 'nobody created the topic' } });

    const deadLetters = createDeadLetters({ pool, schema: w.schema });
    const dead = await waitFor('the dead letter', () => deadLetters.show(id));
    expect(dead).toMatchObject({ id, topic: 'lonely.ping', key: 'ping-1', reason: 'unroutable', attempts: 3, headers: { 'x-why': 'nobody created the topic' } });
    expect(JSON.parse(dead.payload.toString())).toEqual({ ping: 1 });
    expect(dead.errors.map((e) => [e.attempt, e.code])).toEqual([
      [1, ErrorCode.DestinationNotFound],
      [2, ErrorCode.DestinationNotFound],
      [3, ErrorCode.DestinationNotFound],
    ]);
    for (const error of dead.errors) expect(error.message).toContain(`Kafka topic "${lonely}" does not exist`);
    expect(dead.lastError).toMatch(/create it/);
    expect(dead.firstAttemptAt).not.toBeNull();
    await waitFor('the dead-lettered event', () => deaths.length === 1);
    expect(deaths[0]).toMatchObject({ id, reason: 'unroutable' });
    expect(retries.map((r) => [r.id, r.attempt])).toEqual([
      [id, 1],
      [id, 2],
    ]);
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(0);
    // Nothing was created behind our back (allowAutoTopicCreation: false).
    expect(await admin.admin.listTopics()).not.toContain(lonely);

    await admin.create([lonely], 1);
    const reader = await startRecordLog([lonely]);
    cleanups.push(() => reader.stop());
    const replayed = await deadLetters.replay({ ids: [id] });
    expect(replayed).toEqual({ count: 1, replayed: [{ id, outboxId: id }] });
    await waitFor('the replayed record', () => reader.all.length === 1);
    const [arrived] = reader.all;
    expect(arrived!.id).toBe(id);
    expect(arrived!.key).toBe('ping-1');
    expect(arrived!.headers).toMatchObject({ [Header.MessageId]: id, [Header.Topic]: 'lonely.ping', 'x-why': 'nobody created the topic' });
    expect(JSON.parse(arrived!.value.toString())).toEqual({ ping: 1 });
    await relayIdle(pool, w.schema, w.claims);
    expect(await deadLetters.count()).toBe(0);
    expect(await recordsIn(admin, lonely)).toBe(1);
  });

  it('sends a poison message to `${topic}.dead` with its error history and original coordinates after 3 attempts through the retry topic, and replays it', async () => {
    const w = await world();
    const events: KafkaConsumerEvent[] = [];
    const attempts: Array<[string, number]> = [];
    let fixed = false;
    const effect = recordEffect(w.schema);
    await w.consume({
      modes: { [w.topic]: ConsumerMode.RetryTopics },
      middleware: [inboxMiddleware({ inbox: w.inbox })],
      policies: { default: { maxAttempts: 3, backoff: { initialMs: 20, multiplier: 2, maxMs: 40, jitter: 'none' } } },
      onEvent: (e) => events.push(e),
      handler: async (m, context) => {
        attempts.push([m.id, m.attempt]);
        await effect(m, context); // rolled back with the inbox record when the handler throws
        if (!fixed) throw new Error(`poison: cannot handle attempt ${m.attempt}`);
      },
    });
    const id = await w.outbox.enqueue(pool, { topic: 'events.poison', key: 'p-1', payload: { bad: true }, correlationId: 'corr-p' });

    await waitFor('the dead-lettered event', () => events.some((e) => e.type === 'message:dead-lettered'));
    expect(attempts).toEqual([
      [id, 1],
      [id, 2],
      [id, 3],
    ]);
    expect(events.map((e) => (e.type === 'message:retry-scheduled' ? `retry:${e.mode}:${e.attempt}:${e.delayMs}` : e.type))).toEqual([
      'retry:retry-topics:1:20',
      'retry:retry-topics:2:40',
      'message:dead-lettered',
    ]);
    expect(await w.effects()).toEqual([]);
    expect(await w.inbox.has(w.groupId, id)).toBe(false);

    const deadTopic = `${w.topic}.dead`;
    const reader = await startRecordLog([deadTopic, `${w.topic}.retry`]);
    cleanups.push(() => reader.stop());
    await waitFor('the dead letter and both retry copies', () => reader.all.length === 3);
    const dead = reader.all.find((r) => r.topic === deadTopic)!;
    expect(dead.id).toBe(id);
    expect(dead.key).toBe('p-1');
    expect(JSON.parse(dead.value.toString())).toEqual({ bad: true });
    expect(dead.headers).toMatchObject({
      [Header.MessageId]: id,
      [Header.Topic]: 'events.poison',
      [Header.CorrelationId]: 'corr-p',
      [Header.DeadReason]: 'max-attempts',
      [Header.Attempt]: '3',
      [Header.Error]: 'Error: poison: cannot handle attempt 3',
      [KafkaHeader.OriginalTopic]: w.topic,
      [KafkaHeader.OriginalPartition]: '0',
      [KafkaHeader.OriginalOffset]: '0',
      [KafkaHeader.ConsumerGroup]: w.groupId,
    });
    expect(dead.headers[KafkaHeader.DueAt]).toBeUndefined();
    expect(Number.isFinite(Date.parse(dead.headers[Header.FirstFailedAt]!))).toBe(true);
    const history = JSON.parse(dead.headers[Header.ErrorHistory]!) as Array<{ attempt: number; message: string }>;
    expect(history.map((e) => [e.attempt, e.message])).toEqual([1, 2, 3].map((n) => [n, `Error: poison: cannot handle attempt ${n}`]));
    // Both retry copies went through `${topic}.retry`, carrying the original coordinates.
    const copies = reader.all.filter((r) => r.topic === `${w.topic}.retry`);
    expect(copies.map((c) => [c.id, c.headers[Header.Attempt], c.headers[KafkaHeader.OriginalOffset]])).toEqual([
      [id, '2', '0'],
      [id, '3', '0'],
    ]);

    fixed = true;
    expect(await replayKafkaDeadLetters({ brokers: KAFKA_BROKERS, topic: w.topic, timeoutMs: 30_000 })).toBe(1);
    await waitFor('the replayed delivery to succeed', () => w.inbox.has(w.groupId, id));
    expect(attempts.at(-1)).toEqual([id, 1]);
    expect(await w.effects()).toEqual([id]);
    expect(await recordsIn(admin, w.topic)).toBe(2); // the original and the replayed copy, same id
    expect(await replayKafkaDeadLetters({ brokers: KAFKA_BROKERS, topic: w.topic, timeoutMs: 30_000 })).toBe(0); // already moved
  });
});
