import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createRabbitMQConnection,
  createRabbitMQConsumer,
  createRabbitMQTransport,
  ORIGINAL_EXCHANGE_HEADER,
  ORIGINAL_ROUTING_KEY_HEADER,
  replayConsumerDeadLetters,
  type RabbitMQConnection,
  type RabbitMQConsumer,
  type RabbitMQConsumerEvent,
  type RabbitMQConsumerOptions,
  type RabbitMQTransport,
} from '../../adapters/rabbitmq/index.js';
import type { ConsumedMessage } from '../../src/consumer/types.js';
import { NonRetryableError } from '../../src/errors.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { Header, type OutboxMessage } from '../../src/message.js';
import { useDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { createAdmin, forceCloseConnections, RABBITMQ_URL, randomName, type Admin } from '../conformance/rabbitmq-tools.js';
import { makeMessage } from '../conformance/transport-suite.js';

const TIERS_MS = [100, 300];
const FAST_POLICY = { default: { maxAttempts: 3, backoff: { initialMs: 100, multiplier: 2, maxMs: 300, jitter: 'none' as const } } };

describe('rabbitmq consumer', () => {
  const db = useDatabase();
  let admin: Admin;
  let connection: RabbitMQConnection;
  let transport: RabbitMQTransport;
  let connectionName: string;
  let queue: string;
  let exchange: string;
  const consumers: RabbitMQConsumer[] = [];

  beforeAll(async () => {
    admin = await createAdmin();
  });
  afterAll(async () => {
    await admin.close();
  });

  /** A fresh queue bound to a fresh exchange (topics events.#), a shared connection and a transport on it. */
  async function setup(): Promise<void> {
    queue = randomName('consumer-q');
    exchange = randomName('consumer-x');
    admin.track('queue', queue, `${queue}.dead`, ...TIERS_MS.map((t) => `${queue}.retry.${t}`));
    admin.track('exchange', exchange);
    connectionName = randomName('consumer-test');
    connection = createRabbitMQConnection({
      url: RABBITMQ_URL,
      connectionName,
      topology: {
        exchanges: [{ name: exchange, type: 'topic', durable: false }],
        queues: [{ name: queue, durable: false, bindings: [{ exchange, pattern: 'events.#' }] }],
      },
    });
    transport = createRabbitMQTransport({ connection, routes: { 'events.#': { exchange } } });
  }

  afterEach(async () => {
    for (const c of consumers.splice(0)) await c.stop({ timeoutMs: 2_000 });
    await transport.close();
    await connection.close();
    await admin.cleanup();
  });

  async function start(options: Partial<RabbitMQConsumerOptions> & Pick<RabbitMQConsumerOptions, 'handler'>): Promise<RabbitMQConsumer> {
    const consumer = createRabbitMQConsumer({ connection, queue, retry: { tiersMs: TIERS_MS }, policies: FAST_POLICY, ...options });
    consumers.push(consumer);
    await consumer.start();
    return consumer;
  }

  async function publish(...messages: OutboxMessage[]): Promise<void> {
    const results = await transport.publish(messages, { signal: new AbortController().signal });
    expect(results.every((r) => r.ok)).toBe(true);
  }

  it('acknowledges a delivery after the handler succeeded', async () => {
    await setup();
    const seen: ConsumedMessage[] = [];
    const consumer = await start({ handler: async (m) => void seen.push(m) });
    const message = makeMessage('events.signed-up', { key: 'user-1', correlationId: 'c-1', headers: { 'x-tenant': 'acme' } });
    await publish(message);
    await waitFor('the delivery', () => seen.length === 1);
    expect(seen[0]).toMatchObject({ id: message.id, topic: 'events.signed-up', key: 'user-1', correlationId: 'c-1', attempt: 1 });
    expect(seen[0]!.headers['x-tenant']).toBe('acme');
    expect(seen[0]!.json()).toEqual(JSON.parse(message.payload.toString()));
    await consumer.stop();
    expect(await admin.messageCount(queue)).toBe(0); // not requeued on close: it was acknowledged
  });

  it('retries a failing handler through the tier queue with the attempt incremented, until it succeeds', async () => {
    await setup();
    const attempts: ConsumedMessage[] = [];
    const events: RabbitMQConsumerEvent[] = [];
    await start({
      onEvent: (e) => events.push(e),
      handler: async (m) => {
        attempts.push(m);
        if (m.attempt < 3) throw new Error(`flaky ${m.attempt}`);
      },
    });
    const message = makeMessage('events.flaky');
    await publish(message);
    await waitFor('the third attempt', () => attempts.length === 3);
    expect(attempts.map((m) => [m.id, m.attempt, m.topic])).toEqual([1, 2, 3].map((n) => [message.id, n, 'events.flaky']));
    const last = attempts[2]!;
    expect(last.headers[Header.Error]).toBe('Error: flaky 2');
    expect(JSON.parse(last.headers[Header.ErrorHistory]!).map((e: { attempt: number }) => e.attempt)).toEqual([1, 2]);
    expect(last.headers[Header.FirstFailedAt]).toMatch(/^\d{4}-\d\d-\d\dT/);
    const retries = events.filter((e) => e.type === 'message:retry-scheduled');
    expect(retries.map((e) => e.type === 'message:retry-scheduled' && e.tierMs)).toEqual([100, 100]);
    await waitFor('the tier queue to be empty', async () => (await admin.messageCount(`${queue}.retry.100`)) === 0);
  });

  it('dead-letters a poison message after maxAttempts with its error history and reason', async () => {
    await setup();
    let calls = 0;
    await start({
      handler: async () => {
        calls += 1;
        throw new Error('poison');
      },
    });
    const message = makeMessage('events.poison');
    await publish(message);
    const [dead] = await admin.take(`${queue}.dead`, 1);
    expect(calls).toBe(3);
    expect(dead!.properties.messageId).toBe(message.id);
    expect(dead!.content.equals(message.payload)).toBe(true);
    const headers = dead!.properties.headers!;
    expect(headers).toMatchObject({
      [Header.DeadReason]: 'max-attempts',
      [Header.Error]: 'Error: poison',
      [Header.Attempt]: '3',
      [Header.Topic]: 'events.poison',
      [ORIGINAL_EXCHANGE_HEADER]: exchange,
      [ORIGINAL_ROUTING_KEY_HEADER]: 'events.poison',
    });
    expect(JSON.parse(headers[Header.ErrorHistory] as string)).toHaveLength(3);
    expect(headers['x-death']).toBeUndefined();
  });

  it('sends a NonRetryableError straight to the dead-letter queue', async () => {
    await setup();
    let calls = 0;
    await start({
      handler: async () => {
        calls += 1;
        throw new NonRetryableError('bad input');
      },
    });
    await publish(makeMessage('events.bad'));
    const [dead] = await admin.take(`${queue}.dead`, 1);
    expect(calls).toBe(1);
    expect(dead!.properties.headers).toMatchObject({ [Header.DeadReason]: 'permanent-error', [Header.Attempt]: '1' });
  });

  it('skips the side effect of a redelivered duplicate with the inbox middleware', async () => {
    await setup();
    const schema = await db.freshSchema();
    await db.pool.query(`CREATE TABLE "${schema}".effects (message_id text NOT NULL)`);
    const inbox = createInbox({ pool: db.pool, schema });
    const duplicates: string[] = [];
    let handled = 0;
    await start({
      middleware: [inboxMiddleware({ inbox, onDuplicate: (id) => duplicates.push(id) })],
      handler: async (m, context) => {
        await context.tx!.query(`INSERT INTO "${schema}".effects (message_id) VALUES ($1)`, [m.id]);
        handled += 1;
      },
    });
    const message = makeMessage('events.paid');
    await publish(message);
    await waitFor('the first delivery', () => handled === 1);
    await publish(message); // the relay's at-least-once duplicate: same id
    await waitFor('the duplicate to be skipped', () => duplicates.length === 1);
    const { rows } = await db.pool.query(`SELECT message_id FROM "${schema}".effects`);
    expect(rows).toEqual([{ message_id: message.id }]);
    expect(handled).toBe(1);
    expect(await inbox.has(queue, message.id)).toBe(true);
  });

  it('replays dead letters back to the queue with the id kept and the attempt reset', async () => {
    await setup();
    const seen: ConsumedMessage[] = [];
    await start({
      handler: async (m) => {
        seen.push(m);
        if (seen.length === 1) throw new NonRetryableError('not yet');
      },
    });
    const message = makeMessage('events.replayed');
    await publish(message);
    await waitFor('the dead letter', async () => (await admin.messageCount(`${queue}.dead`)) === 1);

    expect(await replayConsumerDeadLetters({ connection, queue })).toBe(1);
    await waitFor('the replayed delivery', () => seen.length === 2);
    expect(seen[1]).toMatchObject({ id: message.id, attempt: 1 });
    expect(seen[1]!.headers[Header.DeadReason]).toBeUndefined();
    expect(await admin.messageCount(`${queue}.dead`)).toBe(0);
  });

  it('does not acknowledge a delivery whose dead-letter copy was not confirmed, and recovers', async () => {
    await setup();
    let calls = 0;
    const events: RabbitMQConsumerEvent[] = [];
    await start({
      onEvent: (e) => events.push(e),
      handler: async () => {
        calls += 1;
        throw new NonRetryableError('rejected');
      },
    });
    await (await admin.channel()).deleteQueue(`${queue}.dead`); // the copy is returned as unroutable
    const message = makeMessage('events.rejected');
    await publish(message);
    await waitFor('the dead letter', () => events.some((e) => e.type === 'message:dead-lettered'));
    const [dead] = await admin.take(`${queue}.dead`, 1);
    expect(dead!.properties.messageId).toBe(message.id);
    expect(calls).toBe(2); // redelivered after the failed copy, then dead-lettered into the declared-again queue
    expect(events.map((e) => e.type)).toEqual(['message:republish-failed', 'message:dead-lettered']);
  });

  it('keeps consuming after its connection is closed by the broker', async () => {
    await setup();
    const seen: string[] = [];
    const events: RabbitMQConsumerEvent[] = [];
    await start({ onEvent: (e) => events.push(e), handler: async (m) => void seen.push(m.id) });
    const before = makeMessage('events.before');
    await publish(before);
    await waitFor('the first delivery', () => seen.length === 1);

    expect(await forceCloseConnections(connectionName)).toBe(1);
    await waitFor('the consumer to resume', () => events.some((e) => e.type === 'consumer:resumed'));
    const after = makeMessage('events.after');
    await publish(after);
    await waitFor('the delivery after the reconnect', () => seen.includes(after.id));
    expect(events.some((e) => e.type === 'consumer:channel-lost')).toBe(true);
  });
});
