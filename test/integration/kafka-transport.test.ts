import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaTransport, type KafkaTransport, type KafkaTransportOptions } from '../../adapters/kafka/index.js';
import { ErrorCode, errorCode, isNonRetryableError, isTransportUnavailableError } from '../../src/errors.js';
import { silentLogger } from '../../src/logger.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createRelay } from '../../src/relay/relay.js';
import { Header } from '../../src/message.js';
import type { PublishResult } from '../../src/transport.js';
import {
  createTopicAdmin,
  freezableClient,
  headersOf,
  KAFKA_BROKERS,
  randomTopic,
  startReader,
  testClient,
  type Reader,
  type TopicAdmin,
} from '../conformance/kafka-tools.js';
import { makeMessage } from '../conformance/transport-suite.js';
import { useDatabase } from '../helpers/db.js';
import { orderViolations } from '../helpers/order.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../scripts/kafka.sh', import.meta.url));
const live = (): AbortSignal => new AbortController().signal;
const codes = (results: readonly PublishResult[]): Array<string | undefined> => results.map((r) => (r.ok ? 'ok' : errorCode(r.error)));

describe('kafka transport', () => {
  const db = useDatabase();
  let admin: TopicAdmin;
  const transports: KafkaTransport[] = [];
  const readers: Reader[] = [];
  const relays: Array<{ stop(options: { timeoutMs: number }): Promise<void> }> = [];

  function transport(options: Partial<KafkaTransportOptions> = {}): KafkaTransport {
    const created = createKafkaTransport({ brokers: KAFKA_BROKERS, ...options } as KafkaTransportOptions);
    transports.push(created);
    return created;
  }
  async function reader(topics: string[]): Promise<Reader> {
    const started = await startReader(topics);
    readers.push(started);
    return started;
  }

  beforeAll(async () => {
    admin = await createTopicAdmin();
  });
  afterEach(async () => {
    for (const r of relays.splice(0)) await r.stop({ timeoutMs: 2_000 });
    for (const t of transports.splice(0)) await t.close();
    for (const r of readers.splice(0)) await r.stop();
    await admin.cleanup();
  });
  afterAll(async () => {
    await admin.close();
  });

  it('writes key, value, timestamp and every header intact, and keeps one key in one partition, in order', async () => {
    const topic = randomTopic('orders');
    await admin.create([topic]);
    const t = transport();
    const createdAt = new Date('2024-05-01T10:00:00.123Z');
    const first = makeMessage(topic, {
      key: 'order-1',
      payload: Buffer.from([0, 1, 2, 255]),
      contentType: 'application/octet-stream',
      headers: { 'x-tenant': 'acme' },
      correlationId: 'corr-9',
      replyTo: 'replies',
      attempt: 3,
      createdAt,
    });
    expect(codes(await t.publish([first], { signal: live() }))).toEqual(['ok']);
    const sameKey = Array.from({ length: 5 }, (_, i) => makeMessage(topic, { key: 'order-1', payload: Buffer.from(`n${i}`) }));
    for (const message of sameKey) expect(codes(await t.publish([message], { signal: live() }))).toEqual(['ok']);

    const records = await (await reader([topic])).take(topic, 6);
    const [record] = records;
    expect(record!.key!.toString()).toBe('order-1');
    expect(record!.value!.equals(first.payload)).toBe(true);
    expect(record!.timestamp).toBe(String(createdAt.getTime()));
    expect(headersOf(record!)).toEqual({
      'x-tenant': 'acme',
      [Header.MessageId]: first.id,
      [Header.Topic]: topic,
      [Header.Key]: 'order-1',
      [Header.PublishAttempt]: '3',
      [Header.CreatedAt]: '2024-05-01T10:00:00.123Z',
      [Header.CorrelationId]: 'corr-9',
      'postbox-reply-to': 'replies',
      'content-type': 'application/octet-stream',
    });
    expect(new Set(records.map((r) => r.partition)).size).toBe(1);
    expect(records.slice(1).map((r) => r.value!.toString())).toEqual(['n0', 'n1', 'n2', 'n3', 'n4']);
  });

  it('fails only the messages of a missing topic, fast, with DestinationNotFound, and checks again on a later attempt', async () => {
    const topic = randomTopic('present');
    const missing = randomTopic('missing');
    await admin.create([topic]);
    const t = transport();
    const started = Date.now();
    const results = await t.publish([makeMessage(topic), makeMessage(missing), makeMessage(topic)], { signal: live() });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(codes(results)).toEqual(['ok', ErrorCode.DestinationNotFound, 'ok']);
    expect(results[1]!.ok === false && results[1]!.error.message).toMatch(new RegExp(`Kafka topic "${missing}" does not exist.*create it`));

    await admin.create([missing]);
    expect(codes(await t.publish([makeMessage(missing)], { signal: live() }))).toEqual(['ok']);
    expect(await (await reader([topic, missing])).take(missing, 1)).toHaveLength(1);
  });

  it('fails a topic that is not a legal Kafka topic name permanently, unless a route names a Kafka topic', async () => {
    const topic = randomTopic('routed');
    await admin.create([topic]);
    const t = transport({ routes: { 'billing.#': { topic } } });
    const results = await t.publish([makeMessage('orders.créée'), makeMessage('billing.invoice+1')], { signal: live() });
    expect(results[0]!.ok).toBe(false);
    expect(results[0]!.ok === false && isNonRetryableError(results[0]!.error)).toBe(true);
    expect(results[0]!.ok === false && results[0]!.error.message).toMatch(/not a legal Kafka topic name.*Add a route/);
    expect(results[1]!.ok).toBe(true);
    const [record] = await (await reader([topic])).take(topic, 1);
    expect(headersOf(record!)[Header.Topic]).toBe('billing.invoice+1');
  });

  it('fails only an oversized record permanently; the rest of its batch is published', async () => {
    const topic = randomTopic('large');
    await admin.create([topic]);
    const batch = [makeMessage(topic, { key: 'a' }), makeMessage(topic, { key: 'b', payload: Buffer.alloc(1_200_000) }), makeMessage(topic, { key: 'c' })];
    const results = await transport().publish(batch, { signal: live() });
    expect(codes(results)).toEqual(['ok', ErrorCode.NonRetryable, 'ok']);
    expect(results[1]!.ok === false && isNonRetryableError(results[1]!.error)).toBe(true);
    expect(results[1]!.ok === false && results[1]!.error.message).toMatch(/MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/);
    const ids = (await (await reader([topic])).take(topic, 2)).map((r) => headersOf(r)[Header.MessageId]);
    expect(ids.sort()).toEqual([batch[0]!.id, batch[2]!.id].sort());
  });

  it('publishes through a producer it was given, checks topics with the given admin, and leaves both connected', async () => {
    const topic = randomTopic('given');
    await admin.create([topic]);
    const client = testClient('postbox-test-given');
    const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const t = transport({ brokers: undefined, producer, admin: admin.admin });
    const results = await t.publish([makeMessage(topic), makeMessage(randomTopic('absent'))], { signal: live() });
    expect(codes(results)).toEqual(['ok', ErrorCode.DestinationNotFound]);
    await t.close();
    const [written] = await producer.send({ topic, acks: -1, messages: [{ value: 'still connected' }] });
    expect(written?.errorCode).toBe(0);
    expect(await admin.admin.listTopics()).toContain(topic);
    await producer.disconnect();
  });

  it('fails a batch within publishTimeoutMs when Kafka stops answering, and at once when aborted', async () => {
    const topic = randomTopic('slow');
    await admin.create([topic]);
    const client = freezableClient();
    const t = transport({ brokers: undefined, kafka: client.kafka, publishTimeoutMs: 1_000 });
    await t.connect();
    expect(codes(await t.publish([makeMessage(topic)], { signal: live() }))).toEqual(['ok']);

    client.freeze();
    let started = Date.now();
    const timedOut = await t.publish([makeMessage(topic), makeMessage(topic)], { signal: live() });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(codes(timedOut)).toEqual([ErrorCode.PublishTimeout, ErrorCode.PublishTimeout]);

    const controller = new AbortController();
    started = Date.now();
    const pending = t.publish([makeMessage(topic)], { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const aborted = await pending;
    expect(Date.now() - started).toBeLessThan(900);
    expect(aborted.every((r) => !r.ok)).toBe(true);
    client.thaw();
  });

  it('recovers after the broker restarts: publishes in between fail promptly, and a relay then delivers everything in key order', async () => {
    const topic = randomTopic('restart');
    await admin.create([topic]);
    const schema = await db.freshSchema();
    const relayTransport = transport({ publishTimeoutMs: 2_000 });
    const relay = createRelay({
      pool: db.pool,
      schema,
      transport: relayTransport,
      logger: silentLogger,
      minPollIntervalMs: 5,
      maxPollIntervalMs: 50,
      policies: { default: { maxAttempts: 100, backoff: { initialMs: 100, multiplier: 2, maxMs: 500, jitter: 'full' } } },
    });
    const failures: string[] = [];
    const deaths: string[] = [];
    relays.push(relay);
    relay.on('relay:transport-unavailable', (e) => failures.push(e.error.message));
    relay.on('message:retry-scheduled', (e) => failures.push(e.error));
    relay.on('message:dead-lettered', (e) => deaths.push(`${e.id}: ${e.reason}`));
    await relay.start();
    const probe = transport({ publishTimeoutMs: 2_000 });
    expect(codes(await probe.publish([makeMessage(topic, { key: 'k' })], { signal: live() }))).toEqual(['ok']);

    await admin.close();
    await run('bash', [script, 'stop'], { timeout: 60_000 });
    const messages = Array.from({ length: 30 }, (_, i) => ({ topic, key: `k${i % 3}`, payload: { key: `k${i % 3}`, n: Math.floor(i / 3) } }));
    try {
      await createOutbox({ schema }).enqueue(db.pool, messages);
      for (let i = 0; i < 2; i++) {
        const started = Date.now();
        const outcome = await probe.publish([makeMessage(topic, { key: 'k' })], { signal: live() }).then(
          (results) => results,
          (error: unknown) => error,
        );
        expect(Date.now() - started).toBeLessThan(3_000);
        if (Array.isArray(outcome)) expect(outcome.every((r: PublishResult) => !r.ok)).toBe(true);
        else expect(isTransportUnavailableError(outcome)).toBe(true);
      }
      await waitFor('the relay to feel the outage', () => failures.length > 0);
    } finally {
      await run('bash', [script, 'start'], { timeout: 120_000 });
      admin = await createTopicAdmin();
    }
    await admin.create([topic]); // the restarted broker starts empty
    const read = await reader([topic]);
    await waitFor('every message after the restart', () => new Set(read.seen(topic).map((r) => headersOf(r)[Header.MessageId])).size === 30, {
      timeoutMs: 30_000,
    });
    const deliveries = read.seen(topic).map((r) => JSON.parse(r.value!.toString()) as { key: string; n: number });
    expect(orderViolations(deliveries)).toEqual([]);
    expect(deaths).toEqual([]);
  });
});
