/**
 * outboxChannel() against real PostgreSQL and RabbitMQ: what the facade writes, the relay later
 * publishes exactly as the wrapped amqplib channel would have (compared with the same calls made
 * on the raw channel); the write joins the caller's transaction; outside one it throws, or sends
 * directly with retries; bad input fails at the call and leaves the transaction usable.
 */
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, GetMessage, Options } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRabbitMQTransport, outboxChannel, type OutboxChannel } from '../../adapters/rabbitmq/index.js';
import { readDelivery } from '../../adapters/rabbitmq/delivery.js';
import { withTransaction } from '../../src/db/queryable.js';
import { ConfigError, ErrorCode, isPostboxError, ValidationError } from '../../src/errors.js';
import { encodeRoute } from '../../src/facade/route.js';
import { NoTransactionError } from '../../src/facade/scope.js';
import { createDeadLetters } from '../../src/outbox/dead-letters.js';
import { createOutbox, enqueueRouted, type Outbox } from '../../src/outbox/enqueue.js';
import type { RelayOptions } from '../../src/relay/options.js';
import { useDatabase } from '../helpers/db.js';
import { relayIdle, startCountedRelay, useCleanups } from '../helpers/e2e.js';
import { waitFor } from '../helpers/wait.js';
import { createAdmin, RABBITMQ_URL, randomName, type Admin } from '../conformance/rabbitmq-tools.js';
import { rowCount } from './fixtures/rabbitmq-kit.js';

const { pool, freshSchema } = useDatabase();

let admin: Admin;
let producer: ChannelModel;
beforeAll(async () => {
  admin = await createAdmin();
  producer = await amqp.connect(RABBITMQ_URL);
  producer.on('error', () => undefined);
});
afterAll(async () => {
  await producer.close().catch(() => undefined);
  await admin.close();
});

const cleanups = useCleanups({ after: () => admin.cleanup() });

interface World {
  readonly schema: string;
  readonly outbox: Outbox;
  /** A topic exchange bound to `queue` for every routing key. */
  readonly exchange: string;
  readonly queue: string;
  /** The application's own confirm channel, as it uses it today. */
  readonly raw: ConfirmChannel;
  readonly channel: OutboxChannel<ConfirmChannel>;
}

async function world(): Promise<World> {
  const schema = await freshSchema();
  const outbox = createOutbox({ schema });
  const exchange = await admin.exchange(randomName('facade-x'), 'topic');
  const queue = await admin.queue(randomName('facade-q'));
  await (await admin.channel()).bindQueue(queue, exchange, '#');
  const raw = await producer.createConfirmChannel();
  raw.on('error', () => undefined);
  cleanups.push(() => raw.close().catch(() => undefined));
  return { schema, outbox, exchange, queue, raw, channel: outboxChannel(raw, { outbox }) };
}

/** A relay publishing `schema` through its own RabbitMQ transport (no routes: facade messages carry theirs). */
async function relay(schema: string, options: Partial<RelayOptions> = {}): Promise<{ claims(): number }> {
  const transport = createRabbitMQTransport({ url: RABBITMQ_URL, connectionName: randomName('facade-relay') });
  cleanups.push(() => transport.close());
  return startCountedRelay(pool, schema, transport, cleanups, options);
}

type Call = { readonly method: 'publish'; readonly routingKey: string; readonly options?: Options.Publish } | { readonly method: 'sendToQueue'; readonly options?: Options.Publish };

/** Calls that exercise every publish option and the kinds of header value amqplib encodes. */
const CALLS: ReadonlyArray<Call> = [
  { method: 'publish', routingKey: 'orders.created' },
  {
    method: 'publish',
    routingKey: 'orders.paid',
    options: {
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      headers: {
        'x-tenant': 'acme',
        count: 42,
        ratio: 1.5,
        large: 2 ** 40,
        negative: -70_000,
        flag: true,
        nothing: null,
        list: ['a', 1, false, { deep: 'yes' }],
        nested: { a: { b: 'c' } },
        stamp: { '!': 'timestamp', value: 1_700_000_000 },
        price: { '!': 'decimal', value: { places: 2, digits: 1999 } },
        wide: { '!': 'int64', value: 5 },
      },
      persistent: true,
      priority: 7,
      correlationId: 'corr-1',
      replyTo: 'reply-queue',
      expiration: 600_000,
      messageId: 'message-1',
      timestamp: 1_700_000_123,
      type: 'order.paid',
      appId: 'shop',
      userId: 'guest',
      CC: 'orders.cc',
      BCC: ['orders.bcc'],
      mandatory: true,
    },
  },
  { method: 'publish', routingKey: 'orders.shipped', options: { deliveryMode: 2, expiration: '600000', contentType: 'text/plain' } },
  { method: 'publish', routingKey: 'orders.cancelled', options: { persistent: false, deliveryMode: true, headers: {} } },
  { method: 'sendToQueue', options: { contentType: 'application/octet-stream', headers: { 'x-a': 'b' }, correlationId: 'corr-2' } },
  { method: 'sendToQueue' },
];

/** Each call's content: distinct, and binary (every byte value) for one of them. */
function contentOf(index: number): Buffer {
  if (index === 1) return Buffer.from(Array.from({ length: 256 }, (_, b) => b));
  if (index === 5) return Buffer.alloc(0);
  return Buffer.from(`call ${index}: zażółć`);
}

function send(target: ConfirmChannel | OutboxChannel<ConfirmChannel>, w: World, call: Call, index: number): unknown {
  return call.method === 'publish'
    ? target.publish(w.exchange, call.routingKey, contentOf(index), call.options)
    : target.sendToQueue(w.queue, contentOf(index), call.options);
}

/** What a consumer sees of a delivery, without postbox's own headers and the per-delivery counters. */
function seen(message: GetMessage): unknown {
  const headers = Object.fromEntries(Object.entries(message.properties.headers ?? {}).filter(([name]) => !name.startsWith('postbox-')));
  return {
    exchange: message.fields.exchange,
    routingKey: message.fields.routingKey,
    redelivered: message.fields.redelivered,
    content: message.content.toString('hex'),
    properties: { ...message.properties, headers },
  };
}

describe('rabbitmq channel facade: publishes what the wrapped channel would have', () => {
  it('delivers each publish and sendToQueue call with the same exchange, routing key, content and properties as the raw channel', async () => {
    const w = await world();
    CALLS.forEach((call, i) => send(w.raw, w, call, i));
    await w.raw.waitForConfirms();
    const direct = await admin.take(w.queue, CALLS.length);

    await withTransaction(pool, async () => {
      for (const [i, call] of CALLS.entries()) await send(w.channel, w, call, i);
    });
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(CALLS.length);
    const { claims } = await relay(w.schema);
    const relayed = await admin.take(w.queue, CALLS.length);
    await relayIdle(pool, w.schema, claims);

    // Unkeyed messages may arrive in any order: pair them by content.
    const byContent = new Map(relayed.map((m) => [m.content.toString('hex'), m]));
    for (const [i, expected] of direct.entries()) {
      const actual = byContent.get(expected.content.toString('hex'));
      expect(actual, `call ${i}`).toBeDefined();
      expect(seen(actual!), `call ${i}`).toEqual(seen(expected));
    }
    expect(direct[1]!.properties).toMatchObject({ deliveryMode: 2, priority: 7, messageId: 'message-1', userId: 'guest' });
    expect(direct[0]!.properties.contentType).toBeUndefined();

    // Consumers and the inbox find postbox's identity: postbox's id (never the caller's reusable messageId), the topic.
    for (const [i, message] of relayed.entries()) {
      const delivery = readDelivery(message as never).message;
      const headers = message.properties.headers!;
      expect(headers['postbox-message-id'], `delivery ${i}`).toMatch(/^[0-9a-f-]{36}$/);
      expect(delivery.id).toBe(headers['postbox-message-id']);
      expect(delivery.topic).toBe(message.fields.routingKey);
      expect(headers['postbox-route']).toBeUndefined();
    }
  });

  it('keeps an unroutable mandatory message for retries and dead-letters it; without mandatory the broker drops it, as with amqplib', async () => {
    const w = await world();
    const lonely = await admin.exchange(randomName('facade-lonely'), 'topic');
    await withTransaction(pool, async () => {
      void w.channel.publish(lonely, 'nobody.listens', Buffer.from('kept'), { mandatory: true });
      void w.channel.publish(lonely, 'nobody.listens', Buffer.from('dropped'));
    });
    const { claims } = await relay(w.schema, { policies: { default: { maxAttempts: 2, backoff: { initialMs: 10, maxMs: 10, jitter: 'none' } } } });
    await relayIdle(pool, w.schema, claims);
    const dead = await createDeadLetters({ pool, schema: w.schema }).list();
    expect(dead.map((d) => [d.topic, d.reason, d.attempts])).toEqual([['nobody.listens', 'unroutable', 2]]);
    expect((await createDeadLetters({ pool, schema: w.schema }).show(dead[0]!.id))!.payload.toString()).toBe('kept');
  });
});

describe('rabbitmq channel facade: the write joins the transaction', () => {
  it('writes nothing when the transaction rolls back, and commits a publish that was not awaited', async () => {
    const w = await world();
    await expect(
      withTransaction(pool, async () => {
        void w.channel.publish(w.exchange, 'orders.created', Buffer.from('rolled back'));
        throw new Error('the business logic failed after publish');
      }),
    ).rejects.toThrow('the business logic failed');
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(0);

    await withTransaction(pool, async () => {
      void w.channel.sendToQueue(w.queue, Buffer.from('not awaited'));
    });
    const { rows } = await pool.query(`SELECT topic, payload, content_type FROM "${w.schema}".outbox`);
    expect(rows).toEqual([{ topic: w.queue, payload: Buffer.from('not awaited'), content_type: 'application/octet-stream' }]);
  });

  it('rolls the business change back when the outbox write fails', async () => {
    const w = await world();
    await pool.query(`CREATE TABLE "${w.schema}".orders (id int PRIMARY KEY)`);
    const missing = outboxChannel(w.raw, { outbox: createOutbox({ schema: 'no_such_schema' }) });
    await expect(
      withTransaction(pool, async (tx) => {
        await tx.query(`INSERT INTO "${w.schema}".orders (id) VALUES (1)`);
        void missing.publish(w.exchange, 'orders.created', Buffer.from('x'));
      }),
    ).rejects.toThrow(/no_such_schema/);
    expect(await rowCount(pool, w.schema, 'orders')).toBe(0);
  });

  it('writes in a transaction bound with using(tx), and calls a confirm-style callback once written', async () => {
    const w = await world();
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const done = new Promise<unknown>((resolve) => {
        void w.channel.using(client).publish(w.exchange, 'orders.bound', Buffer.from('bound'), {}, resolve);
      });
      expect(await done).toBeNull();
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await rowCount(pool, w.schema, 'outbox', 'topic = $1', ['orders.bound'])).toBe(1);
  });

  it('writes the calls of one tick in one statement, in call order', async () => {
    const w = await world();
    let statements = 0;
    await withTransaction(pool, async (tx) => {
      const counted = { query: (text: string, values?: unknown[]) => ((statements += 1), tx.query(text, values)) };
      const calls = Array.from({ length: 50 }, (_, i) => w.channel.using(counted).sendToQueue(w.queue, Buffer.from(String(i))));
      expect(await Promise.all(calls)).toEqual(calls.map(() => true));
    });
    expect(statements).toBe(1);
    const { rows } = await pool.query(`SELECT payload FROM "${w.schema}".outbox ORDER BY id`);
    expect(rows.map((r: { payload: Buffer }) => Number(r.payload.toString()))).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('passes every other method and property through to the wrapped channel', async () => {
    const w = await world();
    const checked = await w.channel.checkQueue(w.queue);
    expect(checked.queue).toBe(w.queue);
    const onResult = w.channel.on('return', () => undefined);
    expect(onResult).toBe(w.channel);
    expect(w.channel).toBeInstanceOf(Object.getPrototypeOf(w.raw).constructor);
  });
});

describe('rabbitmq channel facade: outside a transaction', () => {
  it('throws NoTransactionError at the call and writes nothing', async () => {
    const w = await world();
    expect(() => w.channel.publish(w.exchange, 'orders.created', Buffer.from('x'))).toThrow(NoTransactionError);
    expect(() => w.channel.sendToQueue(w.queue, Buffer.from('x'))).toThrow(/outside a transaction/);
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(0);
    expect(await admin.messageCount(w.queue)).toBe(0);
  });

  it("sends directly with { outsideTransaction: 'send' }, retrying a nacked publish under the policy", async () => {
    const w = await world();
    // A queue that holds one message and refuses more: the broker nacks the publish while it is full.
    const full = await admin.queue(randomName('facade-full'), { durable: false, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    w.raw.sendToQueue(full, Buffer.from('blocker'));
    await w.raw.waitForConfirms();
    let nacks = 0;
    w.raw.on('nack', () => {
      nacks += 1;
    });
    const direct = outboxChannel(w.raw, {
      outsideTransaction: 'send',
      retry: { maxAttempts: 20, backoff: { initialMs: 100, multiplier: 1, maxMs: 100, jitter: 'none' } },
    });

    const sent = direct.sendToQueue(full, Buffer.from('direct'), { contentType: 'text/plain' });
    await waitFor('the first attempt to be nacked', () => nacks >= 1);
    const [blocker] = await admin.take(full, 1);
    expect(blocker!.content.toString()).toBe('blocker');
    expect(await sent).toBe(true);

    const [message] = await admin.take(full, 1);
    expect(message!.content.toString()).toBe('direct');
    expect(message!.properties.contentType).toBe('text/plain');
    expect(message!.properties.headers).toEqual({});
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(0);
  });

  it("refuses direct sending on a channel without confirms, and reports every bad option at once", async () => {
    const plain = await producer.createChannel();
    cleanups.push(() => plain.close().catch(() => undefined));
    expect(() => outboxChannel(plain, { outsideTransaction: 'send' })).toThrow(/needs a confirm channel/);
    try {
      outboxChannel(plain, { outsideTransaction: 'sometimes', retry: { maxAttempts: 0 }, topic: 'orders', extra: 1 } as never);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems.map((p) => p.field).sort()).toEqual(['extra', 'outsideTransaction', 'retry', 'retry.maxAttempts', 'topic']);
    }
  });
});

describe('rabbitmq channel facade: bad input', () => {
  it('throws a ValidationError naming each bad argument before any SQL, and the transaction stays usable', async () => {
    const w = await world();
    await pool.query(`CREATE TABLE "${w.schema}".orders (id int PRIMARY KEY)`);
    const keyed = outboxChannel(w.raw, { outbox: w.outbox, key: () => '' });
    await withTransaction(pool, async (tx) => {
      const bad = (): unknown =>
        w.channel.publish(w.exchange, 'orders.created', 'not a buffer' as never, {
          headers: { blob: Buffer.from('x'), big: 10n, when: new Date(), 'postbox-topic': 'mine', list: [undefined] },
          priority: 300,
          expiration: 'soon',
          persistent: 'yes',
          CC: [1],
        } as never);
      expect(bad).toThrow(ValidationError);
      const fields = problemFields(bad);
      expect(fields).toEqual([
        'content',
        'options.expiration',
        'options.CC[0]',
        'options.persistent',
        'options.headers.postbox-topic',
        'options.headers.blob',
        'options.headers.big',
        'options.headers.when',
        'options.headers.list[0]',
        'options.priority',
      ]);
      expect(problemFields(() => w.channel.publish(w.exchange, '', Buffer.from('fanout')))).toEqual(['routingKey']);
      expect(() => w.channel.publish(w.exchange, '', Buffer.from('fanout'))).toThrow(/Pass outboxChannel\(channel, \{ topic/);
      expect(problemFields(() => keyed.publish(w.exchange, 'orders.created', Buffer.from('x')))).toEqual(['key']);

      await tx.query(`INSERT INTO "${w.schema}".orders (id) VALUES (1)`);
      await w.channel.publish(w.exchange, 'orders.created', Buffer.from('good'));
    });
    expect(await rowCount(pool, w.schema, 'orders')).toBe(1);
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(1);
  });

  it('fails only the call whose content is over maxPayloadBytes, naming content; the calls written with it are kept', async () => {
    const w = await world();
    const small = outboxChannel(w.raw, { outbox: createOutbox({ schema: w.schema, maxPayloadBytes: 16 }) });
    const client = await pool.connect();
    let settled: PromiseSettledResult<boolean>[];
    try {
      await client.query('BEGIN');
      const bound = small.using(client); // calls of one tick: one INSERT
      settled = await Promise.allSettled([
        bound.publish(w.exchange, 'orders.a', Buffer.from('first')),
        bound.publish(w.exchange, 'orders.b', Buffer.alloc(17)),
        bound.sendToQueue(w.queue, Buffer.from('third')),
      ]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const error = (settled[1] as PromiseRejectedResult).reason as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toMatch(/^channel\.publish\(\)/);
    expect(error.problems.map((p) => p.field)).toEqual(['content']);
    const { rows } = await pool.query(`SELECT payload FROM "${w.schema}".outbox ORDER BY seq`);
    expect(rows.map((r: { payload: Buffer }) => r.payload.toString())).toEqual(['first', 'third']);
  });

  it('dead-letters as permanent a route for another transport, and a userId RabbitMQ would refuse from the relay', async () => {
    const w = await world();
    await enqueueRouted(w.outbox, pool, [{ topic: 'orders.kafka', payload: Buffer.from('k') }], [encodeRoute({ transport: 'kafka', topic: 'orders' })]);
    await withTransaction(pool, async () => {
      await w.channel.publish(w.exchange, 'orders.impostor', Buffer.from('u'), { userId: 'someone-else' });
      await w.channel.publish(w.exchange, 'orders.fine', Buffer.from('ok'));
    });
    const { claims } = await relay(w.schema);
    const [fine] = await admin.take(w.queue, 1);
    expect(fine!.content.toString()).toBe('ok');
    await relayIdle(pool, w.schema, claims);

    const dead = createDeadLetters({ pool, schema: w.schema });
    const letters = await dead.list();
    expect(letters.map((d) => [d.topic, d.reason, d.attempts]).sort()).toEqual([
      ['orders.impostor', 'permanent-error', 1],
      ['orders.kafka', 'permanent-error', 1],
    ]);
    const byTopic = new Map(letters.map((d) => [d.topic, d.lastError]));
    expect(byTopic.get('orders.kafka')).toMatch(/kafka facade but this relay publishes to rabbitmq/);
    expect(byTopic.get('orders.impostor')).toMatch(/userId property "someone-else" is not the user the relay logs in as \("guest"\)/);
    expect(await admin.messageCount(w.queue)).toBe(0);
  });
});

function problemFields(call: () => unknown): string[] {
  try {
    call();
  } catch (error) {
    if (isPostboxError(error) && (error as ValidationError).code === ErrorCode.Validation) return (error as ValidationError).problems.map((p) => p.field);
    throw error;
  }
  throw new Error('expected a ValidationError');
}
