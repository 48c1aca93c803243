/**
 * The BullMQ transport against real Redis: the job it makes (id, name, data, options), a
 * re-publish that is a no-op, per-message failures that leave the rest of the batch alone, given
 * queues and clients left open, and failing fast (never hanging) when Redis is down, frozen,
 * crashed or refusing writes, with reconnection when it is back.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createBullMQTransport, fromJobData, isPostboxJobData, POSTBOX_BACKOFF_TYPE, type BullMQTransport } from '../../adapters/bullmq/index.js';
import { ErrorCode, isNonRetryableError, isTransportUnavailableError } from '../../src/errors.js';
import type { PublishResult } from '../../src/transport.js';
import { createRedisAdmin, randomName, REDIS_URL } from '../conformance/bullmq-tools.js';
import { makeMessage } from '../conformance/transport-suite.js';
import { waitFor } from '../helpers/wait.js';
import { startPrivateRedis, type PrivateRedis } from './fixtures/bullmq-kit.js';

const live = (): AbortSignal => new AbortController().signal;
const codes = (results: readonly PublishResult[]): Array<string | true> =>
  results.map((r) => (r.ok ? true : ((r.error as { code?: string }).code ?? r.error.name)));

const admin = createRedisAdmin();
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await admin.cleanup();
});
afterAll(async () => {
  await admin.close();
});

function transportFor(options: Parameters<typeof createBullMQTransport>[0]): BullMQTransport {
  const transport = createBullMQTransport(options);
  cleanups.push(() => transport.close());
  return transport;
}

describe('the job', () => {
  it('has jobId = message id, the route name and options, the policy attempts, postbox backoff and retention by age', async () => {
    const queue = randomName('jobs');
    admin.queue(queue);
    const transport = transportFor({
      connection: REDIS_URL,
      routes: { 'orders.*': { queue }, 'orders.vip': { queue, jobName: 'vip', jobOptions: { priority: 3 } } },
      policies: { default: { maxAttempts: 4 }, topics: { 'orders.vip': { maxAttempts: 7 } } },
      retain: { completedMs: 3_600_000, failedMs: 7_200_000 },
    });
    const plain = makeMessage('orders.created', { key: 'k1', headers: { tenant: 'acme' } });
    const vip = makeMessage('orders.vip');
    expect(codes(await transport.publish([plain, vip], { signal: live() }))).toEqual([true, true]);
    const [a, b] = await Promise.all([admin.queue(queue).getJob(plain.id), admin.queue(queue).getJob(vip.id)]);
    expect(a!.name).toBe('orders.created');
    expect(a!.opts).toMatchObject({ attempts: 4, backoff: { type: POSTBOX_BACKOFF_TYPE }, removeOnComplete: { age: 3600 }, removeOnFail: { age: 7200 } });
    expect(isPostboxJobData(a!.data)).toBe(true);
    expect(a!.data).toMatchObject({ id: plain.id, topic: 'orders.created', key: 'k1', headers: { tenant: 'acme' }, publishAttempt: 1 });
    expect(a!.data.payloadText).toBe(plain.payload.toString());
    expect(b!.name).toBe('vip');
    expect(b!.opts).toMatchObject({ attempts: 7, priority: 3 });
  });

  it("carries the bare payload with jobData: 'payload'", async () => {
    const topic = `bare.${randomName('q')}`;
    admin.queue(topic);
    const transport = transportFor({ connection: REDIS_URL, jobData: 'payload' });
    const message = makeMessage(topic, { payload: Buffer.from('{"n":1}') });
    await transport.publish([message], { signal: live() });
    expect((await admin.queue(topic).getJob(message.id))!.data).toEqual({ n: 1 });
  });

  it('is added once: a re-publish of the same message is a no-op and reports success', async () => {
    const topic = `again.${randomName('q')}`;
    admin.queue(topic);
    const transport = transportFor({ connection: REDIS_URL });
    const message = makeMessage(topic);
    await transport.publish([message], { signal: live() });
    const results = await transport.publish([{ ...message, attempt: 2 }, makeMessage(topic)], { signal: live() });
    expect(codes(results)).toEqual([true, true]);
    expect(await admin.count(topic)).toBe(2);
    expect((await admin.queue(topic).getJob(message.id))!.data.publishAttempt).toBe(1); // the first job, untouched
  });
});

describe('per-message failures', () => {
  it('keeps payload bytes exactly, as the other transports do, even JSON that parsing would change', async () => {
    const topic = `exact.${randomName('q')}`;
    admin.queue(topic);
    const transport = transportFor({ connection: REDIS_URL });
    const texts = ['{"orderId":9007199254740993,"amount":1.10}', '{not json'];
    const batch = [
      ...texts.map((text) => makeMessage(topic, { payload: Buffer.from(text) })),
      makeMessage(topic, { payload: Buffer.from([0xff, 0x00, 0xfe]) }), // JSON-labelled, not even UTF-8
      makeMessage(topic, { payload: Buffer.from([1, 2, 3]), contentType: 'application/octet-stream' }),
    ];
    expect(codes(await transport.publish(batch, { signal: live() }))).toEqual([true, true, true, true]);
    for (const message of batch) {
      const job = await admin.queue(topic).getJob(message.id);
      expect(fromJobData(job!.data, { id: message.id, topic }).payload.equals(message.payload)).toBe(true);
    }
  });

  it("in 'payload' mode fails only the message whose JSON payload does not parse (permanently), and a topic that cannot be a queue name", async () => {
    const topic = `bad.${randomName('q')}`;
    admin.queue(topic);
    const transport = transportFor({ connection: REDIS_URL, jobData: 'payload' });
    const batch = [makeMessage(topic), makeMessage(topic, { payload: Buffer.from('{not json') }), makeMessage('odd:topic'), makeMessage(topic)];
    const results = await transport.publish(batch, { signal: live() });
    expect(codes(results)).toEqual([true, ErrorCode.Validation, ErrorCode.Validation, true]);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && isNonRetryableError(r.error))).toBe(true);
    expect(!results[1]!.ok && results[1]!.error.message).toMatch(/does not parse as JSON/);
    expect(!results[2]!.ok && results[2]!.error.message).toMatch(/Add a route/);
    expect(await admin.count(topic)).toBe(2);
  });
});

describe('what it is given', () => {
  it('uses given queues as they are and never closes them, nor a given ioredis client', async () => {
    const name = randomName('given');
    const client = new Redis(REDIS_URL);
    cleanups.push(() => client.disconnect());
    const given = new Queue(name, { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix: 'postbox-test' });
    cleanups.push(async () => {
      await given.obliterate({ force: true });
      await given.close();
    });
    const other = `other.${randomName('q')}`;
    admin.queue(other);
    const transport = createBullMQTransport({ connection: client, queues: [given], routes: { 'given.#': { queue: name } } });
    await transport.connect();
    expect(codes(await transport.publish([makeMessage('given.a'), makeMessage(other)], { signal: live() }))).toEqual([true, true]);
    await transport.close();
    expect(await given.count()).toBe(1); // its own prefix: the given queue, as it is
    expect(await admin.count(other)).toBe(1); // created on a duplicate of the given client
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    expect(await given.getJobCounts()).toBeDefined(); // still open
  });
});

describe('when Redis is not there', () => {
  let server: PrivateRedis | undefined;
  afterEach(async () => {
    await server?.dispose();
    server = undefined;
  });

  it('throws TransportUnavailableError at once when nothing listens, and publishes once Redis is up', async () => {
    server = await startPrivateRedis({ persistent: false });
    await server.stop('SIGKILL');
    const transport = transportFor({ connection: server.url, connectTimeoutMs: 500, reconnect: { initialMs: 20, maxMs: 100 } });
    const started = Date.now();
    const outcome = await transport.publish([makeMessage('down.a')], { signal: live() }).catch((e: unknown) => e);
    expect(isTransportUnavailableError(outcome)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_500);
    await server.start();
    await waitFor('the transport to publish again', async () => {
      const results = await transport.publish([makeMessage('down.a')], { signal: live() }).catch(() => [] as PublishResult[]);
      return results[0]?.ok === true;
    });
  });

  it('never hangs on a server that accepts connections and never answers', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    silent.listen(0, '127.0.0.1');
    await new Promise((resolve) => silent.once('listening', resolve));
    cleanups.push(() => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => silent.close(resolve));
    });
    const port = (silent.address() as net.AddressInfo).port;
    const transport = transportFor({ connection: `redis://127.0.0.1:${port}`, connectTimeoutMs: 300, publishTimeoutMs: 600 });
    const started = Date.now();
    const outcome = await transport.publish([makeMessage('silent.a')], { signal: live() }).catch((e: unknown) => e);
    expect(isTransportUnavailableError(outcome)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_500);
    await expect(transport.connect()).rejects.toSatisfy(isTransportUnavailableError);
  });

  it('reports a timeout per message when Redis freezes mid-publish, and connection lost when it crashes, then recovers', async () => {
    server = await startPrivateRedis({ persistent: false });
    const transport = transportFor({ connection: server.url, publishTimeoutMs: 400, connectTimeoutMs: 400, reconnect: { initialMs: 20, maxMs: 100 } });
    await transport.connect();
    expect(codes(await transport.publish([makeMessage('frozen.a')], { signal: live() }))).toEqual([true]);

    server.process!.kill('SIGSTOP'); // frozen: the connection stays up, nothing answers
    const started = Date.now();
    const frozen = await transport.publish([makeMessage('frozen.a'), makeMessage('frozen.b')], { signal: live() });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(codes(frozen)).toEqual([ErrorCode.PublishTimeout, ErrorCode.PublishTimeout]);

    await server.stop('SIGKILL'); // a stopped process dies on SIGKILL too
    const crashed = await transport.publish([makeMessage('frozen.a')], { signal: live() }).then(codes, (e: unknown) => e);
    // Either the in-flight command was cut (lost) or the connection was known down (nothing sent).
    if (Array.isArray(crashed)) expect(crashed).toEqual([ErrorCode.ConnectionLost]);
    else expect(isTransportUnavailableError(crashed)).toBe(true);
    await server.start();
    await waitFor('the transport to publish again', async () => {
      const results = await transport.publish([makeMessage('frozen.a')], { signal: live() }).catch(() => [] as PublishResult[]);
      return results[0]?.ok === true;
    });
  });

  it('reports each refused job as failed (transient) when Redis refuses writes, and nothing as added', async () => {
    server = await startPrivateRedis({ persistent: false });
    const redis = new Redis(server.url);
    cleanups.push(() => redis.disconnect());
    const transport = transportFor({ connection: server.url });
    await transport.connect();
    const topic = 'refused.a';
    expect(codes(await transport.publish([makeMessage(topic)], { signal: live() }))).toEqual([true]); // queue scripts loaded
    await redis.config('SET', 'maxmemory-policy', 'noeviction');
    await redis.config('SET', 'maxmemory', '1');
    const refused = await transport.publish([makeMessage(topic), makeMessage(topic), makeMessage(topic)], { signal: live() });
    expect(codes(refused)).toEqual([ErrorCode.Nacked, ErrorCode.Nacked, ErrorCode.Nacked]);
    expect(!refused[0]!.ok && refused[0]!.error.message).toMatch(/OOM/);
    await redis.config('SET', 'maxmemory', '0');
    expect(await redis.llen(`bull:${topic}:wait`)).toBe(1); // only the job added before
  });
});
