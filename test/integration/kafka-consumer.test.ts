import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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
import { NonRetryableError } from '../../src/errors.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { Header, type OutboxMessage } from '../../src/message.js';
import {
  createTopicAdmin,
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
import { waitFor } from '../helpers/wait.js';

const BACKOFF = { initialMs: 300, multiplier: 1, maxMs: 300, jitter: 'none' as const };
const FAST_POLICY = { default: { maxAttempts: 3, backoff: BACKOFF } };
/** Group settings for tests: the broker's minimum session timeout, quick fetches. */
const QUICK = { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000, maxWaitTimeMs: 100 } as const;

describe('kafka consumer', () => {
  const db = useDatabase();
  let admin: TopicAdmin;
  let transport: KafkaTransport;
  let topic: string;
  let groupId: string;
  const consumers: KafkaConsumer[] = [];
  const readers: Reader[] = [];

  beforeAll(async () => {
    admin = await createTopicAdmin();
    transport = createKafkaTransport({ brokers: KAFKA_BROKERS });
  });
  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.stop({ timeoutMs: 2_000 });
    for (const r of readers.splice(0)) await r.stop();
    await admin.cleanup();
  });
  afterAll(async () => {
    await transport.close();
    await admin.close();
  });

  /** A fresh topic (1 partition unless told: every record in one log, in order) and group. */
  async function setup(partitions = 1): Promise<void> {
    topic = randomTopic('events');
    groupId = randomTopic('group');
    await admin.create([topic], partitions);
    admin.track(`${topic}.retry`, `${topic}.dead`);
  }

  async function start(options: Partial<KafkaConsumerOptions> & Pick<KafkaConsumerOptions, 'handler'>): Promise<KafkaConsumer> {
    const consumer = createKafkaConsumer({ brokers: KAFKA_BROKERS, groupId, topics: [topic], policies: FAST_POLICY, ...QUICK, ...options });
    consumers.push(consumer);
    await consumer.start();
    return consumer;
  }

  async function publish(...messages: OutboxMessage[]): Promise<void> {
    const results = await transport.publish(messages, { signal: new AbortController().signal });
    expect(results.every((r) => r.ok)).toBe(true);
  }

  async function deadLetters(count: number): Promise<ReturnType<Reader['take']>> {
    const reader = await startReader([`${topic}.dead`]);
    readers.push(reader);
    return reader.take(`${topic}.dead`, count);
  }

  it('blocking mode: retries a failed record in place, commits nothing past it meanwhile, then goes on in order', async () => {
    await setup();
    const seen: Array<[string, number]> = [];
    const events: KafkaConsumerEvent[] = [];
    const [m1, m2, m3] = ['a', 'b', 'c'].map((n) => makeMessage(topic, { key: 'k', payload: Buffer.from(n) }));
    await start({
      modes: { '#': ConsumerMode.Blocking },
      policies: { default: { maxAttempts: 5, backoff: { ...BACKOFF, initialMs: 1_000, maxMs: 1_000 } } },
      onEvent: (e) => events.push(e),
      handler: async (m) => {
        seen.push([m.payload.toString(), m.attempt]);
        if (m.id === m2!.id && m.attempt < 3) throw new Error(`flaky ${m.attempt}`);
      },
    });
    await publish(m1!);
    await publish(m2!);
    await publish(m3!);
    await waitFor('the first failure', () => seen.length >= 2);
    await waitFor('offset 1 (the failed record) to be committed', async () => (await admin.committed(groupId, topic)).get(0) === 1);
    expect(seen).toEqual([['a', 1], ['b', 1]]); // c waits behind b

    await waitFor('every record', () => seen.length === 5);
    expect(seen).toEqual([['a', 1], ['b', 1], ['b', 2], ['b', 3], ['c', 1]]);
    await waitFor('offset 3 to be committed', async () => (await admin.committed(groupId, topic)).get(0) === 3);
    const retries = events.filter((e) => e.type === 'message:retry-scheduled');
    expect(retries.map((e) => e.type === 'message:retry-scheduled' && [e.mode, e.attempt, e.delayMs])).toEqual([
      ['blocking', 1, 1_000],
      ['blocking', 2, 1_000],
    ]);
  });

  it('blocking mode holds back only the failing partition; records of other producers get an id from their coordinates', async () => {
    await setup(2);
    const seen: ConsumedMessage[] = [];
    await start({
      modes: { [topic]: ConsumerMode.Blocking },
      policies: { default: { maxAttempts: 5, backoff: { ...BACKOFF, initialMs: 1_000, maxMs: 1_000 } } },
      handler: async (m) => {
        seen.push(m);
        if (m.payload.toString() === 'stuck' && m.attempt === 1) throw new Error('not yet');
      },
    });
    const producer = testClient('postbox-test-raw').producer();
    await producer.connect();
    try {
      await producer.send({ topic, messages: [{ key: 'raw-0', value: 'stuck', partition: 0 }] });
      await waitFor('the first failure', () => seen.length === 1);
      await producer.send({ topic, messages: [{ key: 'raw-1', value: 'free', partition: 1 }] });
      await waitFor('both records, the stuck one twice', () => seen.length === 3);
    } finally {
      await producer.disconnect();
    }
    expect(seen.map((m) => [m.payload.toString(), m.attempt])).toEqual([['stuck', 1], ['free', 1], ['stuck', 2]]);
    expect(seen[1]).toMatchObject({ id: `kafka:${topic}/1@0`, topic, key: 'raw-1', contentType: 'application/octet-stream' });
    expect(seen[2]!.id).toBe(`kafka:${topic}/0@0`);
  });

  it('retry-topic mode: goes on with the next record and handles the failed one later from the retry topic', async () => {
    await setup();
    const seen: Array<{ message: ConsumedMessage; at: number }> = [];
    const [m1, m2] = ['a', 'b'].map((n) => makeMessage(topic, { key: 'k', payload: Buffer.from(n) }));
    await start({
      handler: async (m) => {
        seen.push({ message: m, at: Date.now() });
        if (m.id === m1!.id && m.attempt === 1) throw new Error('not yet');
      },
    });
    await publish(m1!, m2!);
    await waitFor('the retried delivery', () => seen.length === 3);
    expect(seen.map(({ message }) => [message.payload.toString(), message.attempt])).toEqual([['a', 1], ['b', 1], ['a', 2]]);
    const retried = seen[2]!.message;
    expect(retried.id).toBe(m1!.id);
    expect(retried.topic).toBe(topic);
    expect(retried.headers).toMatchObject({
      [Header.Attempt]: '2',
      [Header.Error]: 'Error: not yet',
      [KafkaHeader.OriginalTopic]: topic,
      [KafkaHeader.OriginalPartition]: '0',
      [KafkaHeader.OriginalOffset]: '0',
    });
    const dueAt = Date.parse(retried.headers[KafkaHeader.DueAt]!);
    expect(seen[2]!.at).toBeGreaterThanOrEqual(dueAt);
    expect(dueAt - seen[0]!.at).toBeGreaterThanOrEqual(BACKOFF.initialMs - 50);
    await waitFor('both topics committed', async () =>
      (await admin.committed(groupId, topic)).get(0) === 2 && (await admin.committed(groupId, `${topic}.retry`)).get(0) === 1,
    );
  });

  it('retry-topic mode with two groups on one topic: each group handles only its own retry copies', async () => {
    await setup();
    const billing: number[] = [];
    const shipping: number[] = [];
    const shippingGroup = randomTopic('group');
    await start({
      handler: async (m) => {
        billing.push(m.attempt);
        if (m.attempt === 1) throw new Error('billing failed once');
      },
    });
    await start({ groupId: shippingGroup, handler: async (m) => void shipping.push(m.attempt) });
    await publish(makeMessage(topic));
    await waitFor('billing to handle its retry copy', () => billing.length === 2);
    await waitFor('shipping to pass over the copy', async () => (await admin.committed(shippingGroup, `${topic}.retry`)).get(0) === 1);
    expect(billing).toEqual([1, 2]);
    expect(shipping).toEqual([1]);
  });

  it('dead-letters a poison record after maxAttempts with its error history and original coordinates', async () => {
    await setup();
    let calls = 0;
    await start({
      handler: async () => {
        calls += 1;
        throw new Error('poison');
      },
    });
    const message = makeMessage(topic, { key: 'p-1' });
    await publish(message);
    const [dead] = await deadLetters(1);
    expect(calls).toBe(3);
    expect(dead!.key!.toString()).toBe('p-1');
    expect(dead!.value!.equals(message.payload)).toBe(true);
    const headers = headersOf(dead!);
    expect(headers).toMatchObject({
      [Header.MessageId]: message.id,
      [Header.DeadReason]: 'max-attempts',
      [Header.Error]: 'Error: poison',
      [Header.Attempt]: '3',
      [KafkaHeader.OriginalTopic]: topic,
      [KafkaHeader.OriginalPartition]: '0',
      [KafkaHeader.OriginalOffset]: '0',
      [KafkaHeader.ConsumerGroup]: groupId,
    });
    expect(headers[KafkaHeader.DueAt]).toBeUndefined();
    expect(JSON.parse(headers[Header.ErrorHistory]!).map((e: { attempt: number }) => e.attempt)).toEqual([1, 2, 3]);
  });

  it('sends a NonRetryableError straight to the dead-letter topic, then replays it with the id kept and the attempt reset', async () => {
    await setup();
    const seen: ConsumedMessage[] = [];
    await start({
      modes: { [topic]: ConsumerMode.Blocking },
      handler: async (m) => {
        seen.push(m);
        if (seen.length === 1) throw new NonRetryableError('bad input');
      },
    });
    const message = makeMessage(topic);
    await publish(message);
    const [dead] = await deadLetters(1);
    expect(seen).toHaveLength(1);
    expect(headersOf(dead!)).toMatchObject({ [Header.DeadReason]: 'permanent-error', [Header.Attempt]: '1' });

    expect(await replayKafkaDeadLetters({ brokers: KAFKA_BROKERS, topic })).toBe(1);
    await waitFor('the replayed delivery', () => seen.length === 2);
    expect(seen[1]).toMatchObject({ id: message.id, attempt: 1 });
    expect(seen[1]!.headers[Header.DeadReason]).toBeUndefined();
    expect(JSON.parse(seen[1]!.headers[Header.ErrorHistory]!)).toHaveLength(1);
    expect(await replayKafkaDeadLetters({ brokers: KAFKA_BROKERS, topic })).toBe(0); // already moved
  });

  it('skips the side effect of a duplicate with the inbox middleware', async () => {
    await setup();
    const schema = await db.freshSchema();
    await db.pool.query(`CREATE TABLE "${schema}".effects (message_id text NOT NULL)`);
    const inbox = createInbox({ pool: db.pool, schema });
    const duplicates: string[] = [];
    await start({
      middleware: [inboxMiddleware({ inbox, onDuplicate: (id) => duplicates.push(id) })],
      handler: async (m, context) => {
        await context.tx!.query(`INSERT INTO "${schema}".effects (message_id) VALUES ($1)`, [m.id]);
      },
    });
    const message = makeMessage(topic);
    await publish(message);
    await publish(message); // the relay's at-least-once duplicate: same id
    await waitFor('the duplicate to be skipped', () => duplicates.length === 1);
    const { rows } = await db.pool.query(`SELECT message_id FROM "${schema}".effects`);
    expect(rows).toEqual([{ message_id: message.id }]);
    expect(await inbox.has(groupId, message.id)).toBe(true);
  });

  it('stops gracefully: waits for the running handler, and leaves a record that failed while stopping uncommitted', async () => {
    await setup();
    const seen: ConsumedMessage[] = [];
    const events: KafkaConsumerEvent[] = [];
    const [m1, m2] = ['a', 'b'].map((n) => makeMessage(topic, { key: 'k', payload: Buffer.from(n) }));
    const first = await start({
      onEvent: (e) => events.push(e),
      handler: async (m, context) => {
        seen.push(m);
        if (m.id !== m2!.id) return;
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }));
        throw new Error('interrupted by the stop');
      },
    });
    await publish(m1!, m2!);
    await waitFor('the second record to be in its handler', () => seen.length === 2);
    await first.stop({ timeoutMs: 5_000 });
    expect((await admin.committed(groupId, topic)).get(0)).toBe(1); // m1 done, m2 not
    expect(events).toEqual([]); // not retried, not dead-lettered

    const again: ConsumedMessage[] = [];
    await start({ handler: async (m) => void again.push(m) });
    await waitFor('the redelivery to the next member of the group', () => again.length === 1);
    expect(again[0]).toMatchObject({ id: m2!.id, attempt: 1 });
  });

  it('never lets a handler error crash the consumer, whatever is thrown', async () => {
    await setup(3);
    const events: KafkaConsumerEvent[] = [];
    const handled: string[] = [];
    const throwers: Array<() => never> = [
      () => {
        throw 'a string';
      },
      () => {
        throw undefined;
      },
      () => {
        throw Object.defineProperty(new Error('getter'), 'message', { get: () => 'a message from a getter' });
      },
      () => {
        throw new TypeError('a bug in the handler');
      },
    ];
    const messages = throwers.map((_, i) => makeMessage(topic, { key: `k${i}`, payload: Buffer.from(String(i)) }));
    const good = makeMessage(topic, { key: 'good' });
    await start({
      policies: { default: { maxAttempts: 1 } },
      onEvent: (e) => events.push(e),
      // Not async: some throw synchronously.
      handler: (m) => {
        handled.push(m.id);
        const index = messages.findIndex((x) => x.id === m.id);
        if (index >= 0) throwers[index]!();
        return Promise.resolve();
      },
    });
    await publish(...messages);
    await publish(good);
    await waitFor('every record dead-lettered or handled', () => events.filter((e) => e.type === 'message:dead-lettered').length === 4 && handled.includes(good.id));
    expect(events.filter((e) => e.type === 'consumer:crashed' || e.type === 'consumer:error')).toEqual([]);
  });
});
