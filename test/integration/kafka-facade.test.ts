/**
 * The kafkajs producer facade against real PostgreSQL and Kafka: send()/sendBatch() through
 * outboxProducer(producer) plus the relay produce the same records as the producer itself (key,
 * value, headers, partition, timestamp), only inside a committed transaction; what the facade
 * cannot carry is refused before any SQL.
 */
import { trace } from '@opentelemetry/api';
import type { IHeaders, KafkaMessage, Message, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaTransport, outboxProducer, type OutboxProducer } from '../../adapters/kafka/index.js';
import { withTransaction } from '../../src/db/queryable.js';
import { ErrorCode, ValidationError } from '../../src/errors.js';
import { encodeRoute } from '../../src/facade/route.js';
import { NoTransactionError } from '../../src/facade/scope.js';
import { Header } from '../../src/message.js';
import { createOutbox, enqueueRouted, type Outbox } from '../../src/outbox/enqueue.js';
import type { RelayOptions } from '../../src/relay/options.js';
import { createTopicAdmin, KAFKA_BROKERS, randomTopic, startReader, testClient, type ReadRecord, type TopicAdmin } from '../conformance/kafka-tools.js';
import { useDatabase } from '../helpers/db.js';
import { startCountedRelay, useCleanups, waitForRelayIdle } from '../helpers/e2e.js';
import { installInMemoryTracing } from '../helpers/otel.js';
import { recordsIn } from './fixtures/kafka-kit.js';
import { rowCount } from './fixtures/rabbitmq-kit.js';

const { pool, freshSchema } = useDatabase();

let admin: TopicAdmin;
let producer: Producer;
beforeAll(async () => {
  admin = await createTopicAdmin();
  producer = testClient('postbox-test-facade').producer();
  await producer.connect();
});
afterAll(async () => {
  await producer.disconnect();
  await admin.close();
});

/** Undone after each test, last first: readers, relay, transport; then the topics. */
const cleanups = useCleanups({ after: () => admin.cleanup() });

interface World {
  readonly schema: string;
  readonly outbox: Outbox;
  readonly facade: OutboxProducer<Producer>;
  /** Starts a relay with the Kafka transport; resolves once it found the outbox empty. */
  relayUntilIdle(options?: Partial<RelayOptions>): Promise<void>;
  /** A reader of the topics from the beginning, stopped after the test. */
  read(topics: string[]): ReturnType<typeof startReader>;
}

async function world(options: { maxPayloadBytes?: number } = {}): Promise<World> {
  const schema = await freshSchema();
  const outbox = createOutbox({ schema, ...options });
  return {
    schema,
    outbox,
    facade: outboxProducer(producer, { outbox }),
    async relayUntilIdle(relayOptions) {
      const transport = createKafkaTransport({ brokers: KAFKA_BROKERS, clientId: 'postbox-facade-relay' });
      cleanups.push(() => transport.close());
      const { claims } = await startCountedRelay(pool, schema, transport, cleanups, relayOptions);
      await waitForRelayIdle(pool, schema, claims);
    },
    async read(topics) {
      const reader = await startReader(topics);
      cleanups.push(() => reader.stop());
      return reader;
    },
  };
}

type Call = { readonly method: 'send'; readonly input: Parameters<Producer['send']>[0] } | { readonly method: 'sendBatch'; readonly input: Parameters<Producer['sendBatch']>[0] };

const bytes = (...values: number[]): Buffer => Buffer.from(values);

/** Every shape the facade carries; each record has a distinct (key, value) to pair raw and relayed copies. */
function calls(topic: string): Call[] {
  return [
    {
      method: 'send',
      input: {
        topic,
        acks: -1,
        messages: [
          { key: 'order-1', value: '{"id":1}', headers: { 'x-tenant': 'acme', 'x-bin': bytes(0, 1, 2, 255) } },
          { key: bytes(0xff, 0x00, 0x10), value: bytes(0, 1, 2, 3, 254, 255), headers: { 'content-type': 'application/x-custom' } },
          { key: 'order-1', value: 'second of order-1', timestamp: '1700000000000' },
          { value: 'keyless, partition 2', partition: 2, headers: { multi: ['a', bytes(0x62, 0x00)] } },
          { key: 'deleted-key', value: null },
          { key: '', value: 'empty key' },
          { value: 'keyless, no partition' },
        ],
      },
    },
    {
      method: 'sendBatch',
      input: {
        compression: 0,
        topicMessages: [
          { topic, messages: [{ key: 'batch-1', value: 'b1', partition: 1, timestamp: '1600000000123', headers: { 'x-ü': 'zażółć' } }] },
          { topic, messages: [{ key: 'zażółć', value: bytes(0xc3), headers: {} }, { key: bytes(0x80), value: 'invalid UTF-8 key' }] },
        ],
      },
    },
  ];
}

async function run(target: Pick<Producer, 'send' | 'sendBatch'>, call: Call): Promise<unknown> {
  return call.method === 'send' ? target.send(call.input) : target.sendBatch(call.input);
}

const hex = (value: Buffer | null): string => (value === null ? 'null' : value.toString('hex'));
const identify = (r: KafkaMessage): string => `${hex(r.key)}|${hex(r.value)}`;

function messagesOf(list: readonly Call[]): Message[] {
  return list.flatMap((call) => (call.method === 'send' ? call.input.messages : (call.input.topicMessages ?? []).flatMap((t) => t.messages)));
}

const inputIdentity = (m: Message): string =>
  `${hex(m.key === undefined || m.key === null ? null : Buffer.from(m.key))}|${hex(m.value === null ? null : Buffer.from(m.value))}`;

/** The record's headers without postbox's own, as kafkajs reads them (Buffers; arrays for repeated names). */
function userHeaders(headers: IHeaders | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers ?? {}).filter(([name]) => !name.startsWith('postbox-')));
}

describe('kafka producer facade', () => {
  it('produces exactly what the wrapped producer sends: key, value, headers, partition and timestamp', async () => {
    const w = await world();
    const rawTopic = randomTopic('facade-raw');
    const topic = randomTopic('facade');
    await admin.create([rawTopic, topic]);
    const reader = await w.read([rawTopic, topic]);

    const expected = calls(rawTopic);
    for (const call of expected) await run(producer, call);
    const results = await withTransaction(pool, async () => {
      const out: unknown[] = [];
      for (const call of calls(topic)) out.push(await run(w.facade, call));
      return out;
    });
    expect(results).toEqual([[], []]);
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(10);
    await w.relayUntilIdle();

    const raw = await reader.take(rawTopic, 10);
    const relayed = await reader.take(topic, 10);
    const byIdentity = new Map(relayed.map((r) => [identify(r), r]));
    expect(byIdentity.size).toBe(10);
    const given = new Map(messagesOf(expected).map((m) => [inputIdentity(m), m]));
    for (const original of raw) {
      const copy: ReadRecord | undefined = byIdentity.get(identify(original));
      expect(copy, `relayed copy of ${identify(original)}`).toBeDefined();
      expect(copy!.key).toEqual(original.key);
      expect(copy!.value).toEqual(original.value);
      expect(userHeaders(copy!.headers)).toEqual(userHeaders(original.headers));
      const input = given.get(identify(original))!;
      // A keyless record without a partition is placed by the producer's partitioner (round robin / message id).
      if (input.key !== undefined || input.partition !== undefined) expect([identify(original), copy!.partition]).toEqual([identify(original), original.partition]);
      if (input.timestamp !== undefined) expect(copy!.timestamp).toBe(original.timestamp);
      expect(copy!.headers?.[Header.MessageId]?.toString()).toMatch(/^[0-9a-f-]{36}$/);
      expect(copy!.headers?.[Header.Topic]?.toString()).toBe(topic);
      expect(copy!.headers).not.toHaveProperty(Header.Route);
    }
    expect(raw.find((r) => r.value === null)?.key?.toString()).toBe('deleted-key'); // the tombstone
    const sameKey = relayed.filter((r) => r.key?.toString() === 'order-1').map((r) => r.value?.toString());
    expect(sameKey).toEqual(['{"id":1}', 'second of order-1']); // one key: one partition, in commit order
  });

  it("carries the call's trace context to the record, as the relay's send span; a header the caller set wins", async () => {
    const otel = installInMemoryTracing();
    cleanups.push(() => otel.uninstall());
    const w = await world();
    const topic = randomTopic('facade-trace');
    await admin.create([topic], 1);
    const reader = await w.read([topic]);
    const request = await trace.getTracer('test').startActiveSpan('request', async (span) => {
      await withTransaction(pool, () =>
        w.facade.send({ topic, messages: [{ key: 't', value: 'traced' }, { key: 't', value: 'own', headers: { traceparent: 'mine' } }] }),
      );
      span.end();
      return span.spanContext();
    });
    await w.relayUntilIdle();
    const [traced, own] = await reader.take(topic, 2);
    const sends = otel.named(`send ${topic}`);
    expect(sends.map((s) => s.spanContext().traceId)).toEqual([request.traceId, request.traceId]);
    const sendIds = sends.map((s) => `00-${request.traceId}-${s.spanContext().spanId}-01`);
    expect(sendIds).toContain(traced!.headers?.traceparent?.toString());
    expect(own!.headers?.traceparent?.toString()).toBe('mine');
  });

  it('writes only in the ambient or bound transaction: rollback sends nothing, a send not awaited still commits, outside one it rejects', async () => {
    const w = await world();
    const topic = randomTopic('facade-tx');
    await admin.create([topic], 1);
    const message = (value: string) => ({ topic, messages: [{ key: 'k', value }] });

    await expect(
      withTransaction(pool, async () => {
        await w.facade.send(message('rolled back'));
        throw new Error('business logic failed');
      }),
    ).rejects.toThrow('business logic failed');
    await withTransaction(pool, async () => {
      void w.facade.send(message('not awaited'));
    });
    // Thrown at the call: a programming error must not hide in a promise nobody awaits.
    expect(() => w.facade.send(message('outside'))).toThrow(NoTransactionError);
    expect(() => w.facade.sendBatch({ topicMessages: [message('outside')] })).toThrow(expect.objectContaining({ code: ErrorCode.NoTransaction }));
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await w.facade.using(client).sendBatch({ topicMessages: [message('bound')] });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(2);

    const reader = await w.read([topic]);
    await w.relayUntilIdle();
    const records = await reader.take(topic, 2);
    expect(records.map((r) => r.value?.toString())).toEqual(['not awaited', 'bound']);
    expect(await recordsIn(admin, topic)).toBe(2);
  });

  it('passes everything else through, and sends directly outside a transaction with outsideTransaction: send', async () => {
    const w = await world();
    const topic = randomTopic('facade-direct');
    await admin.create([topic], 1);
    const direct = outboxProducer(producer, { outbox: w.outbox, outsideTransaction: 'send', retry: { maxAttempts: 2 } });
    expect('using' in direct && 'connect' in direct).toBe(true);
    expect(direct.isIdempotent()).toBe(producer.isIdempotent());
    expect(direct.on).toBe(direct.on);
    await direct.connect(); // the wrapped producer's own (already connected: a no-op)
    const reader = await w.read([topic]);
    const metadata = await direct.send({ topic, messages: [{ key: 'd', value: 'direct' }] });
    expect(metadata).toMatchObject([{ topicName: topic, partition: 0, errorCode: 0 }]);
    const [record] = await reader.take(topic, 1);
    expect(record!.value?.toString()).toBe('direct');
    expect(record!.headers).toEqual({});
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(0);
  });

  it('refuses bad input at the call with a ValidationError naming each field, before any SQL: the transaction stays usable', async () => {
    const w = await world({ maxPayloadBytes: 16 });
    const fields = (call: () => unknown): string[] => {
      try {
        call();
      } catch (error) {
        expect(error).toBeInstanceOf(ValidationError);
        return (error as ValidationError).problems.map((p) => p.field);
      }
      throw new Error('expected a ValidationError');
    };
    await withTransaction(pool, async () => {
      const bad = {
        topic: 'orders',
        messages: [
          { key: 7, value: 'x' },
          { key: 'k', headers: { 'x-n': 42, 'x-list': ['a', 1], 'postbox-message-id': 'mine' } },
          { value: 'x', partition: -1, timestamp: 'yesterday', offset: '3' },
        ],
      };
      expect(fields(() => w.facade.send(bad as never))).toEqual([
        'messages[0].key',
        'messages[1].value',
        'messages[1].headers.x-n',
        'messages[1].headers.x-list[1]',
        'messages[1].headers.postbox-message-id',
        'messages[2].offset',
        'messages[2].partition',
        'messages[2].timestamp',
      ]);
      expect(fields(() => w.facade.sendBatch({ acks: 2, topicMessages: [{ topic: 'a..b', messages: [] }] }))).toEqual(['acks', 'topicMessages[0].topic']);
      expect(() => w.facade.send({ topic: 'a..b', messages: [] })).toThrow(/pass the facade's topic option/i);
      await w.facade.send({ topic: 'orders', messages: [{ value: 'fine' }] });
    });
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(1);

    // Only the outbox knows its payload limit: found while writing, so that write fails the transaction.
    let refused: unknown;
    const big = { topicMessages: [{ topic: 'orders', messages: [{ value: 'fine' }, { value: 'more than sixteen bytes' }] }] };
    await expect(withTransaction(pool, () => w.facade.sendBatch(big).catch((error: unknown) => (refused = error)))).rejects.toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).problems.map((p) => p.field)).toEqual(['topicMessages[0].messages[1].value']);
    expect(await rowCount(pool, w.schema, 'outbox')).toBe(1);

    expect(() => outboxProducer(producer, { outsideTransaction: 'never', retry: {}, topic: 'x' } as never)).toThrow(
      /outsideTransaction[\s\S]*retry[\s\S]*topic/,
    );
  });

  it('dead-letters what the Kafka relay cannot send as written: a route of another transport (permanent), a partition the topic lacks', async () => {
    const w = await world();
    const topic = randomTopic('facade-dead');
    await admin.create([topic], 1);
    await enqueueRouted(w.outbox, pool, [{ topic, payload: 'x' }], [encodeRoute({ transport: 'rabbitmq', exchange: 'orders', routingKey: 'x' })]);
    // kafkajs drops records for partitions it does not know without an error: the transport checks the acknowledgement.
    await withTransaction(pool, () => w.facade.send({ topic, messages: [{ key: 'p', value: 'partition 5 of 1', partition: 5 }] }));
    await w.relayUntilIdle({ policies: { default: { maxAttempts: 2, backoff: { initialMs: 10, jitter: 'none' } } } });
    const { rows } = await pool.query(`SELECT reason, errors -> -1 ->> 'message' AS error FROM "${w.schema}".dead_letters ORDER BY reason`);
    expect(rows).toEqual([
      { reason: 'permanent-error', error: expect.stringMatching(/rabbitmq facade but this relay publishes to kafka/) },
      { reason: 'unroutable', error: expect.stringMatching(/partition 5 of Kafka topic .* not written/) },
    ]);
    expect(await recordsIn(admin, topic)).toBe(0);
  });
});
