/**
 * The whole path against real PostgreSQL and RabbitMQ: enqueue in a transaction -> relay ->
 * RabbitMQ transport -> createRabbitMQConsumer with the inbox middleware. Each test has its own
 * schema, exchange and queues, and stops its relay and consumers in afterEach.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRabbitMQConnection,
  createRabbitMQConsumer,
  createRabbitMQTransport,
  replayConsumerDeadLetters,
  type RabbitMQConnection,
  type RabbitMQConsumer,
  type RabbitMQConsumerEvent,
  type RabbitMQConsumerOptions,
  type RabbitMQTransport,
} from '../../adapters/rabbitmq/index.js';
import { reply } from '../../src/consumer/reply.js';
import type { ConsumedMessage } from '../../src/consumer/types.js';
import { withTransaction } from '../../src/db/queryable.js';
import { createInbox, type Inbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { Header } from '../../src/message.js';
import { createDeadLetters } from '../../src/outbox/dead-letters.js';
import { createOutbox, type Outbox } from '../../src/outbox/enqueue.js';
import type { Relay } from '../../src/relay/relay.js';
import type { RelayOptions } from '../../src/relay/options.js';
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
import { createAdmin, RABBITMQ_URL, randomName, type Admin } from '../conformance/rabbitmq-tools.js';
import { deliveryLog, FAST_POLICY, rowCount } from './fixtures/rabbitmq-kit.js';

const TIERS_MS = [50, 100];

const { pool, freshSchema } = useDatabase();

let admin: Admin;
beforeAll(async () => {
  admin = await createAdmin();
});
afterAll(async () => {
  await admin.close();
});

/** Undone after each test, last first: consumers, relay, transport, connection, broker objects. */
const cleanups = useCleanups({ after: () => admin.cleanup() });

interface World {
  readonly schema: string;
  readonly outbox: Outbox;
  readonly inbox: Inbox;
  readonly exchange: string;
  readonly queue: string;
  readonly connection: RabbitMQConnection;
  readonly transport: RabbitMQTransport;
  readonly relay: Relay;
  /** How many claims the relay has started. */
  claims(): number;
  /** A consumer of `queue` (or another queue) on the shared connection, stopped after the test. */
  consume(options: Partial<RabbitMQConsumerOptions> & Pick<RabbitMQConsumerOptions, 'handler'>): Promise<RabbitMQConsumer>;
  effects(): Promise<string[]>;
}

/**
 * A fresh schema (with an effects table), a topic exchange bound to `queue` for events.#, extra
 * exchanges and queues, a shared connection, a transport routing events.# to the exchange and a
 * running relay.
 */
async function world(
  options: {
    readonly exchanges?: string[];
    readonly queues?: string[];
    readonly routes?: Record<string, { exchange: string }>;
    readonly relay?: Partial<RelayOptions>;
  } = {},
): Promise<World> {
  const schema = await freshSchema();
  await createEffectsTable(pool, schema);
  const outbox = createOutbox({ schema });
  const inbox = createInbox({ pool, schema });
  const exchange = randomName('e2e-x');
  const queue = randomName('e2e-q');
  const extraExchanges = options.exchanges ?? [];
  const extraQueues = options.queues ?? [];
  admin.track('exchange', exchange, ...extraExchanges);
  admin.track('queue', queue, `${queue}.dead`, ...TIERS_MS.map((t) => `${queue}.retry.${t}`), ...extraQueues);
  const connection = createRabbitMQConnection({
    url: RABBITMQ_URL,
    connectionName: randomName('e2e'),
    topology: {
      exchanges: [exchange, ...extraExchanges].map((name) => ({ name, type: 'topic' as const, durable: false })),
      queues: [
        { name: queue, durable: false, bindings: [{ exchange, pattern: 'events.#' }] },
        ...extraQueues.map((name) => ({ name, durable: false })),
      ],
    },
  });
  cleanups.push(() => connection.close());
  const transport = createRabbitMQTransport({ connection, routes: { 'events.#': { exchange }, ...options.routes } });
  cleanups.push(() => transport.close());
  const { relay, claims } = await startCountedRelay(pool, schema, transport, cleanups, options.relay);

  return {
    schema,
    outbox,
    inbox,
    exchange,
    queue,
    connection,
    transport,
    relay,
    claims,
    async consume(consumerOptions) {
      const consumer = createRabbitMQConsumer({ connection, queue, retry: { tiersMs: TIERS_MS }, policies: FAST_POLICY, ...consumerOptions });
      cleanups.push(() => consumer.stop({ timeoutMs: 2_000 }));
      await consumer.start();
      return consumer;
    },
    effects: () => readEffects(pool, schema),
  };
}

describe('rabbitmq end to end: producing and consuming', () => {
  it('delivers a committed message to the consumer with its id, key, headers and payload, and records it in the inbox', async () => {
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
    expectOrderCreated(seen[0], id);
    await waitFor('the inbox record', () => w.inbox.has(w.queue, id));
    expect(await w.effects()).toEqual([id]);
    await relayIdle(pool, w.schema, w.claims);
    expect(log.all.map((d) => d.id)).toEqual([id]);
    expect(await admin.messageCount(w.queue)).toBe(0);
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
    expect(await admin.messageCount(w.queue)).toBe(0);
    expect(await w.effects()).toEqual([committed]);
    await expectNoRows(pool, w.schema, rolledBack, ['outbox', 'dead_letters', 'outbox_published']);
  });

  it('delivers a message enqueued twice with the same idempotency key once', async () => {
    const w = await world();
    const log = deliveryLog();
    await w.consume({ middleware: [log.middleware, inboxMiddleware({ inbox: w.inbox })], handler: recordEffect(w.schema) });

    const message = { topic: 'events.payment.captured', key: 'payment-7', idempotencyKey: 'capture-7' };
    const first = await w.outbox.enqueue(pool, { ...message, payload: { try: 1 } });
    const second = await withTransaction(pool, (tx) => w.outbox.enqueue(tx, { ...message, payload: { try: 2 } }));
    expect(second).toBe(first);
    // Same key, committed later: published after `first`, so once it arrived `first` had its chance to arrive twice.
    const sentinel = await w.outbox.enqueue(pool, { topic: 'events.payment.captured', key: 'payment-7', payload: { sentinel: true } });

    await waitFor('the sentinel', () => log.ids.has(sentinel));
    await relayIdle(pool, w.schema, w.claims);
    expect(log.all.map((d) => [d.id, d.payload])).toEqual([
      [first, { try: 1 }],
      [sentinel, { sentinel: true }],
    ]);
    expect(await rowCount(pool, w.schema, 'idempotency_keys')).toBe(1);
    expect(await w.effects()).toEqual([first, sentinel].sort());
  });
});

describe('rabbitmq end to end: failures are retried, dead-lettered and replayed, never lost', () => {
  it('dead-letters an unroutable message with reason unroutable after 3 attempts, and replays it with the same id once a queue is bound', async () => {
    const lonely = randomName('e2e-lonely-x');
    const lateQueue = randomName('e2e-late-q');
    const w = await world({
      exchanges: [lonely],
      routes: { 'lonely.#': { exchange: lonely } },
      relay: {
        policies: {
          ...FAST_POLICY,
          topics: { 'lonely.#': { maxAttempts: 3, backoff: { initialMs: 5, multiplier: 1, maxMs: 5, jitter: 'none' } } },
        },
      },
    });
    admin.track('queue', lateQueue);
    const deaths: Array<{ id: string; reason: string }> = [];
    w.relay.on('message:dead-lettered', (e) => deaths.push(e));
    const id = await w.outbox.enqueue(pool, { topic: 'lonely.ping', key: 'ping-1', payload: { ping: 1 }, headers: { 'x-why': 'nobody listens' } });

    const deadLetters = createDeadLetters({ pool, schema: w.schema });
    const dead = await waitFor('the dead letter', () => deadLetters.show(id));
    expect(dead).toMatchObject({ id, topic: 'lonely.ping', key: 'ping-1', reason: 'unroutable', attempts: 3, headers: { 'x-why': 'nobody listens' } });
    expect(JSON.parse(dead.payload.toString())).toEqual({ ping: 1 });
    expect(dead.errors).toHaveLength(3);
    expect(dead.errors.map((e) => [e.attempt, e.code])).toEqual([
      [1, 'POSTBOX_UNROUTABLE'],
      [2, 'POSTBOX_UNROUTABLE'],
      [3, 'POSTBOX_UNROUTABLE'],
    ]);
    for (const error of dead.errors) expect(error.message).toContain(`exchange "${lonely}"`);
    expect(dead.lastError).toMatch(/bind a queue/);
    await waitFor('the dead-lettered event', () => deaths.length === 1);
    expect(deaths[0]).toMatchObject({ id, reason: 'unroutable' });
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(0);

    const channel = await admin.channel();
    await channel.assertQueue(lateQueue, { durable: false });
    await channel.bindQueue(lateQueue, lonely, 'lonely.#');
    const replayed = await deadLetters.replay({ ids: [id] });
    expect(replayed).toEqual({ count: 1, replayed: [{ id, outboxId: id }] });
    const [arrived] = await admin.take(lateQueue, 1);
    expect(arrived!.properties.messageId).toBe(id);
    expect(arrived!.properties.headers).toMatchObject({ [Header.MessageId]: id, 'x-why': 'nobody listens' });
    expect(JSON.parse(arrived!.content.toString())).toEqual({ ping: 1 });
    await relayIdle(pool, w.schema, w.claims);
    expect(await deadLetters.count()).toBe(0);
    expect(await admin.messageCount(lateQueue)).toBe(0);
  });

  it('sends a poison message to the consumer dead-letter queue with its error history after 3 attempts, and replays it', async () => {
    const w = await world();
    const events: RabbitMQConsumerEvent[] = [];
    const attempts: Array<[string, number]> = [];
    let fixed = false;
    const effect = recordEffect(w.schema);
    await w.consume({
      middleware: [inboxMiddleware({ inbox: w.inbox })],
      policies: { default: { maxAttempts: 3, backoff: { initialMs: 50, multiplier: 2, maxMs: 100, jitter: 'none' } } },
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
    expect(events.map((e) => (e.type === 'message:retry-scheduled' ? `retry:${e.tierMs}` : e.type))).toEqual([
      'retry:50',
      'retry:100',
      'message:dead-lettered',
    ]);
    expect(await w.effects()).toEqual([]);
    expect(await w.inbox.has(w.queue, id)).toBe(false);

    // Look at the dead letter without taking it (requeued for the replay).
    const channel = await admin.channel();
    const dead = await waitFor('the dead letter', async () => (await channel.get(`${w.queue}.dead`, { noAck: false })) || undefined);
    channel.nack(dead, false, true);
    expect(dead.properties.messageId).toBe(id);
    expect(dead.properties.correlationId).toBe('corr-p');
    expect(JSON.parse(dead.content.toString())).toEqual({ bad: true });
    const headers = dead.properties.headers!;
    expect(headers).toMatchObject({
      [Header.DeadReason]: 'max-attempts',
      [Header.Attempt]: '3',
      [Header.Error]: 'Error: poison: cannot handle attempt 3',
      [Header.Topic]: 'events.poison',
    });
    const history = JSON.parse(String(headers[Header.ErrorHistory])) as Array<{ attempt: number; message: string }>;
    expect(history.map((e) => [e.attempt, e.message])).toEqual([1, 2, 3].map((n) => [n, `Error: poison: cannot handle attempt ${n}`]));

    fixed = true;
    expect(await replayConsumerDeadLetters({ connection: w.connection, queue: w.queue })).toBe(1);
    await waitFor('the replayed delivery to succeed', () => w.inbox.has(w.queue, id));
    expect(attempts.at(-1)).toEqual([id, 1]);
    expect(await w.effects()).toEqual([id]);
    expect(await admin.messageCount(`${w.queue}.dead`)).toBe(0);
  });
});

describe('rabbitmq end to end: request and reply', () => {
  it("publishes a reply to the replyTo queue with the correlation id, only once the handler's transaction committed", async () => {
    const replyQueue = randomName('e2e-reply-q');
    const w = await world({ queues: [replyQueue] });
    const outbox = w.outbox;
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    cleanups.push(() => openGate()); // never leave a handler (and its transaction) hanging
    let replyWritten!: () => void;
    const written = new Promise<void>((resolve) => (replyWritten = resolve));
    const replies: Array<{ attempt: number; id: string }> = [];

    await w.consume({
      middleware: [inboxMiddleware({ inbox: w.inbox })],
      policies: { default: { maxAttempts: 3, backoff: { initialMs: 50, maxMs: 50, jitter: 'none' } } },
      handler: async (m, context) => {
        const { question } = m.json<{ question: number }>();
        const id = await reply(context.tx!, m, { answer: question * 2 }, { outbox, headers: { 'x-answered-by': 'e2e' } });
        replies.push({ attempt: m.attempt, id });
        if (m.attempt === 1) throw new Error('failed after replying: this reply must never be sent');
        replyWritten();
        await gate; // the transaction holding the reply stays open until the test says so
      },
    });
    await w.outbox.enqueue(pool, { topic: 'events.question', payload: { question: 21 }, correlationId: 'corr-42', replyTo: replyQueue });

    await written;
    expect(replies.map((r) => r.attempt)).toEqual([1, 2]);
    const [rolledBack, committed] = replies.map((r) => r.id);
    // The reply row exists only inside the open transaction: the relay keeps polling and finds nothing.
    const seen = w.claims();
    await waitFor('two claims while the reply is uncommitted', () => w.claims() >= seen + 2);
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(0);
    expect(await admin.messageCount(replyQueue)).toBe(0);

    openGate();
    const [answer] = await admin.take(replyQueue, 1);
    expect(answer!.properties).toMatchObject({ messageId: committed, correlationId: 'corr-42', contentType: 'application/json' });
    expect(answer!.properties.headers).toMatchObject({ [Header.Topic]: replyQueue, 'x-answered-by': 'e2e' });
    expect(JSON.parse(answer!.content.toString())).toEqual({ answer: 42 });
    await relayIdle(pool, w.schema, w.claims);
    expect(await admin.messageCount(replyQueue)).toBe(0); // exactly one reply: the rolled-back one never existed
    await expectNoRows(pool, w.schema, rolledBack, ['outbox', 'dead_letters']);
  });
});
