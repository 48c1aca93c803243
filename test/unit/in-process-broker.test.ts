import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ConsumedMessage, Middleware } from '../../src/consumer/types.js';
import { ErrorCode, NonRetryableError } from '../../src/errors.js';
import type { OutboxMessage } from '../../src/message.js';
import { createInProcessBroker, type InProcessConsumerEvent } from '../../src/testing/index.js';

const policies = { default: { maxAttempts: 3, backoff: { initialMs: 100, multiplier: 2, maxMs: 10_000, jitter: 'none' as const } } };

let seq = 0;
function message(topic = 'orders.paid', key: string | null = 'o-1', body: unknown = { n: 1 }): OutboxMessage {
  seq++;
  return {
    id: `0190a5c8-0000-7000-8000-${String(seq).padStart(12, '0')}`,
    topic,
    key,
    payload: Buffer.from(JSON.stringify(body)),
    contentType: 'application/json',
    headers: { 'x-tenant': 'acme' },
    correlationId: null,
    replyTo: null,
    attempt: 1,
    createdAt: new Date(),
  };
}

const publishOptions = { signal: new AbortController().signal };

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2024-05-01T12:00:00.000Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('in-process broker: the transport', () => {
  it('acknowledges what a bound queue takes and fails a topic no queue is bound to as unroutable', async () => {
    const broker = createInProcessBroker();
    broker.bind('billing', ['orders.*']);
    const [paid, shipped] = [message('orders.paid'), message('shipping.requested')];
    const results = await broker.transport.publish([paid, shipped], publishOptions);
    expect(results[0]).toEqual({ ok: true });
    expect(results[1]).toMatchObject({ ok: false, error: { code: ErrorCode.Unroutable } });
    expect(broker.published).toEqual([paid]);
  });

  it('is unavailable once closed (nothing sent)', async () => {
    const broker = createInProcessBroker();
    await broker.close();
    await expect(broker.transport.publish([message()], publishOptions)).rejects.toMatchObject({ code: ErrorCode.TransportUnavailable });
  });
});

describe('in-process broker: consuming', () => {
  it('delivers in publish order to every bound queue, with the envelope and context, one delivery at a time', async () => {
    const broker = createInProcessBroker();
    const seen: Array<[string, ConsumedMessage]> = [];
    const contexts: unknown[] = [];
    let overlapping = 0;
    for (const consumer of ['billing', 'audit']) {
      let running = 0;
      broker.consume({
        consumer,
        topics: ['orders.#'],
        handler: async (m, context) => {
          if (++running > 1) overlapping++;
          contexts.push(context);
          await Promise.resolve();
          seen.push([consumer, m]);
          running--;
        },
      });
    }
    const batch = [message('orders.paid', 'o-1', { n: 1 }), message('orders.paid', 'o-1', { n: 2 })];
    await broker.transport.publish(batch, publishOptions);
    await vi.advanceTimersByTimeAsync(0);
    await broker.idle();
    const billing = seen.filter(([c]) => c === 'billing').map(([, m]) => m);
    expect(billing.map((m) => m.json<{ n: number }>().n)).toEqual([1, 2]);
    expect(billing[0]).toMatchObject({ id: batch[0]!.id, topic: 'orders.paid', key: 'o-1', attempt: 1, headers: { 'x-tenant': 'acme' } });
    expect(seen.filter(([c]) => c === 'audit')).toHaveLength(2);
    expect(overlapping).toBe(0);
    expect(contexts).toContainEqual(expect.objectContaining({ consumer: 'audit', transport: 'in-process' }));
  });

  it('retries a failure after the policy backoff (100 ms, then 200 ms), and acknowledges after success', async () => {
    const broker = createInProcessBroker({ policies });
    const attempts: Array<[number, number]> = [];
    const events: InProcessConsumerEvent[] = [];
    const start = Date.now();
    broker.consume({
      consumer: 'billing',
      topics: ['orders.#'],
      onEvent: (event) => events.push(event),
      handler: async (m) => {
        attempts.push([m.attempt, Date.now() - start]);
        if (m.attempt < 3) throw new Error(`billing timed out (${m.attempt})`);
      },
    });
    const sent = message();
    await broker.transport.publish([sent], publishOptions);

    await vi.advanceTimersByTimeAsync(0);
    expect(attempts).toEqual([[1, 0]]);
    await vi.advanceTimersByTimeAsync(99);
    expect(attempts).toHaveLength(1); // not before its delay
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts).toEqual([[1, 0], [2, 100]]);
    await vi.advanceTimersByTimeAsync(200);
    expect(attempts).toEqual([[1, 0], [2, 100], [3, 300]]);
    await broker.idle();
    expect(events.map((e) => [e.type, e.attempt, 'delayMs' in e ? e.delayMs : undefined])).toEqual([
      ['message:retry-scheduled', 1, 100],
      ['message:retry-scheduled', 2, 200],
      ['message:acked', 3, undefined],
    ]);
    expect(broker.deadLetters).toEqual([]);
  });

  it('lets later messages overtake one waiting for its retry', async () => {
    const broker = createInProcessBroker({ policies });
    const order: string[] = [];
    broker.consume({
      consumer: 'billing',
      topics: ['#'],
      handler: async (m) => {
        order.push(`${m.json<{ n: number }>().n}@${m.attempt}`);
        if (m.json<{ n: number }>().n === 1 && m.attempt === 1) throw new Error('flaky');
      },
    });
    await broker.transport.publish([message('a.b', 'k', { n: 1 }), message('a.b', 'k', { n: 2 })], publishOptions);
    await vi.advanceTimersByTimeAsync(100);
    await broker.idle();
    expect(order).toEqual(['1@1', '2@1', '1@2']);
  });
});

describe('in-process broker: dead letters and replay', () => {
  it('dead-letters when the policy gives up, with every error, and replays with the same id and history', async () => {
    const broker = createInProcessBroker({ policies });
    let fixed = false;
    const handled: ConsumedMessage[] = [];
    broker.consume({
      consumer: 'billing',
      topics: ['orders.#'],
      handler: async (m) => {
        if (!fixed) throw new Error(`boom ${m.attempt}`);
        handled.push(m);
      },
    });
    const sent = message();
    await broker.transport.publish([sent], publishOptions);
    await vi.advanceTimersByTimeAsync(1_000);
    await broker.idle();

    expect(broker.deadLetters).toHaveLength(1);
    const [letter] = broker.deadLetters;
    expect(letter).toMatchObject({ id: sent.id, consumer: 'billing', topic: 'orders.paid', key: 'o-1', attempts: 3, reason: 'max-attempts' });
    expect(letter!.errors.map((e) => [e.attempt, e.message])).toEqual([
      [1, 'Error: boom 1'],
      [2, 'Error: boom 2'],
      [3, 'Error: boom 3'],
    ]);

    fixed = true;
    expect(broker.replay({ consumer: 'elsewhere' })).toBe(0);
    expect(broker.replay({ consumer: 'billing' })).toBe(1);
    await vi.advanceTimersByTimeAsync(0);
    await broker.idle();
    expect(handled.map((m) => [m.id, m.attempt])).toEqual([[sent.id, 1]]);
    expect(broker.deadLetters).toEqual([]);
  });

  it('dead-letters a permanent error at once, and keeps a dead letter that failed again after replay', async () => {
    const broker = createInProcessBroker({ policies });
    const events: InProcessConsumerEvent[] = [];
    broker.consume({
      consumer: 'billing',
      topics: ['orders.#'],
      onEvent: (event) => events.push(event),
      handler: async () => {
        throw new NonRetryableError('amount is not a number');
      },
    });
    await broker.transport.publish([message()], publishOptions);
    await vi.advanceTimersByTimeAsync(0);
    await broker.idle();
    expect(broker.deadLetters[0]).toMatchObject({ attempts: 1, reason: 'permanent-error' });
    expect(events).toMatchObject([{ type: 'message:dead-lettered', attempt: 1, reason: 'permanent-error' }]);

    broker.replay();
    await vi.advanceTimersByTimeAsync(0);
    await broker.idle();
    expect(broker.deadLetters).toHaveLength(1);
    expect(broker.deadLetters[0]!.errors.map((e) => e.attempt)).toEqual([1, 1]); // the history of both lives
  });

  it('runs middleware around the handler (the inbox has this shape) and skips what it skips', async () => {
    const broker = createInProcessBroker();
    const done = new Set<string>();
    const dedup: Middleware = (next) => async (m, context) => {
      if (done.has(m.id)) return;
      await next(m, context);
      done.add(m.id);
    };
    let effects = 0;
    broker.consume({ consumer: 'billing', topics: ['#'], middleware: [dedup], handler: async () => void effects++ });
    const sent = message();
    await broker.transport.publish([sent, sent], publishOptions);
    await vi.advanceTimersByTimeAsync(0);
    await broker.idle();
    expect(effects).toBe(1);
  });

  it('keeps an unacknowledged delivery when the consumer stops, and delivers it to the next consumer of the queue', async () => {
    const broker = createInProcessBroker();
    let release!: () => void;
    const first = broker.consume({
      consumer: 'billing',
      topics: ['#'],
      handler: (_m, { signal }) =>
        new Promise((_resolve, reject) => {
          release = () => reject(new Error('stopped'));
          signal.addEventListener('abort', () => release());
        }),
    });
    await broker.transport.publish([message()], publishOptions);
    await vi.advanceTimersByTimeAsync(0);
    await first.stop();
    const handled: number[] = [];
    broker.consume({ consumer: 'billing', topics: ['#'], handler: async (m) => void handled.push(m.attempt) });
    await vi.advanceTimersByTimeAsync(0);
    await broker.idle();
    expect(handled).toEqual([1]);
    expect(broker.deadLetters).toEqual([]);
  });
});
