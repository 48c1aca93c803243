import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRabbitMQTransport, type RabbitMQTransport, type RabbitMQTransportOptions } from '../../adapters/rabbitmq/index.js';
import { ErrorCode, errorCode, isTransportUnavailableError } from '../../src/errors.js';
import { Header } from '../../src/message.js';
import type { PublishResult } from '../../src/transport.js';
import { createAdmin, RABBITMQ_URL, randomName, startProxy, type Admin, type Proxy } from '../conformance/rabbitmq-tools.js';
import { makeMessage } from '../conformance/transport-suite.js';

const live = (): AbortSignal => new AbortController().signal;
const codes = (results: readonly PublishResult[]): Array<string | undefined> =>
  results.map((r) => (r.ok ? 'ok' : errorCode(r.error)));

describe('rabbitmq transport', () => {
  let admin: Admin;
  const transports: RabbitMQTransport[] = [];
  const proxies: Proxy[] = [];

  function transport(options: Partial<RabbitMQTransportOptions> = {}): RabbitMQTransport {
    const created = createRabbitMQTransport({ url: RABBITMQ_URL, connectionName: randomName('transport-test'), ...options });
    transports.push(created);
    return created;
  }

  beforeAll(async () => {
    admin = await createAdmin();
  });
  afterEach(async () => {
    for (const t of transports.splice(0)) await t.close();
    for (const p of proxies.splice(0)) await p.close();
    await admin.cleanup();
  });
  afterAll(async () => {
    await admin.close();
  });

  it('publishes a confirmed batch with every property and header intact', async () => {
    const exchange = randomName('orders-x');
    const queue = randomName('orders-q');
    admin.track('exchange', exchange);
    admin.track('queue', queue);
    const t = transport({
      topology: {
        exchanges: [{ name: exchange, type: 'topic', durable: false }],
        queues: [{ name: queue, durable: false, bindings: [{ exchange, pattern: 'orders.#' }] }],
      },
      routes: { 'orders.#': { exchange, routingKey: 'orders.all' } },
    });
    const createdAt = new Date('2024-05-01T10:00:00.123Z');
    const batch = [
      makeMessage('orders.created', {
        key: 'order-1',
        headers: { 'x-tenant': 'acme' },
        correlationId: 'corr-9',
        replyTo: 'reply-q',
        attempt: 3,
        createdAt,
      }),
      makeMessage('orders.paid', { payload: Buffer.from([0, 1, 2, 255]), contentType: 'application/octet-stream' }),
    ];
    expect(codes(await t.publish(batch, { signal: live() }))).toEqual(['ok', 'ok']);

    const [first, second] = await admin.take(queue, 2);
    expect(first!.fields.routingKey).toBe('orders.all');
    expect(first!.content.equals(batch[0]!.payload)).toBe(true);
    expect(first!.properties).toMatchObject({
      messageId: batch[0]!.id,
      correlationId: 'corr-9',
      replyTo: 'reply-q',
      contentType: 'application/json',
      type: 'orders.created',
      deliveryMode: 2,
      timestamp: Math.floor(createdAt.getTime() / 1000),
    });
    expect(first!.properties.headers).toEqual({
      'x-tenant': 'acme',
      [Header.MessageId]: batch[0]!.id,
      [Header.Topic]: 'orders.created',
      [Header.Key]: 'order-1',
      [Header.PublishAttempt]: '3',
      [Header.CreatedAt]: '2024-05-01T10:00:00.123Z',
    });
    expect(second!.content.equals(Buffer.from([0, 1, 2, 255]))).toBe(true);
    expect(second!.properties.headers).not.toHaveProperty(Header.Key);
  });

  it('fails an unroutable message with Unroutable while the rest of the batch succeeds', async () => {
    const queue = await admin.queue(randomName('direct-q'));
    const t = transport();
    // No route: the topic names a queue on the default exchange; the middle one names no queue.
    const batch = [makeMessage(queue), makeMessage(randomName('no-such-queue')), makeMessage(queue)];
    const results = await t.publish(batch, { signal: live() });
    expect(codes(results)).toEqual(['ok', ErrorCode.Unroutable, 'ok']);
    expect(results[1]!.ok === false && results[1]!.error.message).toMatch(/unroutable.*declare a queue named/);
    expect((await admin.take(queue, 2)).map((m) => m.properties.messageId)).toEqual([batch[0]!.id, batch[2]!.id]);
  });

  it('fails only the message whose exchange is missing, and checks it again on a later attempt', async () => {
    const queue = await admin.queue(randomName('q'));
    const missing = randomName('missing-x');
    const t = transport({ routes: { 'audit.#': { exchange: missing } } });
    const batch = [makeMessage(queue), makeMessage('audit.login'), makeMessage(queue)];
    const results = await t.publish(batch, { signal: live() });
    expect(codes(results)).toEqual(['ok', ErrorCode.DestinationNotFound, 'ok']);
    expect(results[1]!.ok === false && results[1]!.error.message).toContain(missing);

    await admin.exchange(missing, 'topic');
    await (await admin.channel()).bindQueue(queue, missing, '#');
    expect(codes(await t.publish([makeMessage('audit.login')], { signal: live() }))).toEqual(['ok']);
    expect(await admin.take(queue, 3)).toHaveLength(3);
  });

  it('reports a nacked message as Nacked', async () => {
    const queue = await admin.queue(randomName('full-q'), {
      durable: false,
      arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
    });
    const results = await transport().publish([makeMessage(queue), makeMessage(queue)], { signal: live() });
    expect(codes(results)).toEqual(['ok', ErrorCode.Nacked]);
  });

  it('fails with PublishTimeout when no confirm arrives in publishTimeoutMs', async () => {
    const proxy = await startProxy();
    proxies.push(proxy);
    const queue = await admin.queue(randomName('slow-q'));
    const t = transport({ url: proxy.url, publishTimeoutMs: 300 });
    await t.connect();
    proxy.holdReplies();
    const started = Date.now();
    const results = await t.publish([makeMessage(queue), makeMessage(queue)], { signal: live() });
    expect(codes(results)).toEqual([ErrorCode.PublishTimeout, ErrorCode.PublishTimeout]);
    expect(Date.now() - started).toBeLessThan(2_000);
    proxy.releaseReplies(); // the late confirms arrive and are ignored; close() is then quick
  });

  it('fails in-flight messages with ConnectionLost when the connection dies, then reconnects and declares the topology again', async () => {
    const proxy = await startProxy();
    proxies.push(proxy);
    const queue = randomName('topology-q');
    admin.track('queue', queue);
    const t = transport({ url: proxy.url, topology: { queues: [{ name: queue, durable: false }] } });
    const lost: Array<Error | undefined> = [];
    let connects = 0;
    t.connection.on('disconnected', ({ error }) => lost.push(error));
    t.connection.on('connected', () => (connects += 1));
    await t.connect();

    proxy.holdReplies(); // the batch goes out, its confirms are held back
    const pending = t.publish(Array.from({ length: 20 }, () => makeMessage(queue)), { signal: live() });
    await (await admin.channel()).deleteQueue(queue); // only the reconnect can bring it back
    proxy.cut();
    const results = await pending;
    expect(new Set(codes(results))).toEqual(new Set([ErrorCode.ConnectionLost]));

    proxy.releaseReplies();
    const next = makeMessage(queue);
    expect(codes(await t.publish([next], { signal: live() }))).toEqual(['ok']);
    expect(await admin.queueExists(queue)).toBe(true);
    expect(connects).toBe(2);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toBeInstanceOf(Error);
    expect((await admin.take(queue, 1))[0]!.properties.messageId).toBe(next.id);
  });

  it('throws TransportUnavailableError fast, without the password, when the broker is unreachable', async () => {
    const t = transport({ url: 'amqp://guest:hunter2-secret@127.0.0.1:5999' });
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const error = await t.publish([makeMessage('orders.created')], { signal: live() }).catch((e: unknown) => e);
      expect(isTransportUnavailableError(error)).toBe(true);
      expect(Date.now() - started).toBeLessThan(1_000);
      expect((error as Error).message).toContain('127.0.0.1:5999');
      expect((error as Error).message).not.toContain('hunter2-secret');
      expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain('hunter2-secret');
    }
  });

  it('names the declaration the broker refused when the topology conflicts with what exists', async () => {
    const exchange = await admin.exchange(randomName('existing-x'), 'direct');
    const t = transport({ topology: { exchanges: [{ name: exchange, type: 'topic', durable: false }] } });
    const error = await t.connect().catch((e: unknown) => e);
    expect(isTransportUnavailableError(error)).toBe(true);
    expect((error as Error).message).toContain(`topology.exchanges[0] (exchange "${exchange}")`);
    expect((error as Error).message).toMatch(/PRECONDITION_FAILED/);
  });

  it('waits for drain when a batch exceeds the channel buffer and confirms all of it', async () => {
    const queue = await admin.queue(randomName('big-q'));
    const payload = Buffer.alloc(64 * 1024, 7);
    const batch = Array.from({ length: 150 }, () => makeMessage(queue, { payload }));
    const results = await transport().publish(batch, { signal: live() });
    expect(results.every((r) => r.ok)).toBe(true);
    expect(await admin.messageCount(queue)).toBe(150);
  });
});
