/**
 * OpenTelemetry end to end, with an in-memory SDK: a span active at enqueue -> the relay's
 * `send <topic>` span (PRODUCER) -> the RabbitMQ consumer's `process <topic>` span (CONSUMER) ->
 * the handler's own span, all one trace; a message the handler enqueues carries the trace on.
 * A message enqueued without an active span gets no span from the relay.
 */
import { SpanKind, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRabbitMQConnection, createRabbitMQConsumer, createRabbitMQTransport, outboxChannel } from '../../adapters/rabbitmq/index.js';
import type { ConsumedMessage } from '../../src/consumer/types.js';
import { withTransaction } from '../../src/db/queryable.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { useDatabase } from '../helpers/db.js';
import { startCountedRelay, useCleanups } from '../helpers/e2e.js';
import { installInMemoryTracing, parentId, type InMemoryTracing } from '../helpers/otel.js';
import { waitFor } from '../helpers/wait.js';
import { createAdmin, RABBITMQ_URL, randomName, type Admin } from '../conformance/rabbitmq-tools.js';

const { pool, freshSchema } = useDatabase();

let admin: Admin;
let otel: InMemoryTracing;
beforeAll(async () => {
  admin = await createAdmin();
  otel = installInMemoryTracing();
});
afterAll(async () => {
  await otel.uninstall();
  await admin.close();
});
const cleanups = useCleanups({ after: () => admin.cleanup() });

/** A schema, a topic exchange with a queue for events.#, a relay and a consumer that records what it got. */
async function world(handle: (message: ConsumedMessage) => Promise<void> = async () => undefined) {
  const schema = await freshSchema();
  const outbox = createOutbox({ schema });
  const exchange = randomName('trace-x');
  const queue = randomName('trace-q');
  admin.track('exchange', exchange);
  admin.track('queue', queue, `${queue}.dead`, `${queue}.retry.50`);
  const connection = createRabbitMQConnection({
    url: RABBITMQ_URL,
    connectionName: randomName('trace'),
    topology: {
      exchanges: [{ name: exchange, type: 'topic', durable: false }],
      queues: [{ name: queue, durable: false, bindings: [{ exchange, pattern: 'events.#' }] }],
    },
  });
  cleanups.push(() => connection.close());
  const transport = createRabbitMQTransport({ connection, routes: { 'events.#': { exchange } } });
  cleanups.push(() => transport.close());
  await startCountedRelay(pool, schema, transport, cleanups);
  const received: ConsumedMessage[] = [];
  const consumer = createRabbitMQConsumer({
    connection,
    queue,
    retry: { tiersMs: [50] },
    handler: async (message) => {
      received.push(message);
      await handle(message);
    },
  });
  cleanups.push(() => consumer.stop({ timeoutMs: 2_000 }));
  await consumer.start();
  return { schema, outbox, exchange, received };
}

const byId = (spans: readonly ReadableSpan[], id: string | undefined) => spans.find((span) => span.spanContext().spanId === id);
const ofMessage = (name: string, id: string) => () => otel.named(name).find((span) => span.attributes['messaging.message.id'] === id);

describe('tracing through the outbox, the relay and the RabbitMQ consumer', () => {
  it('continues the enqueueing trace: request -> send (producer) -> process (consumer) -> handler span, and on to a follow-up message', async () => {
    const tracer = trace.getTracer('test');
    let followUpId: string | undefined;
    const w = await world(async (message) => {
      await tracer.startActiveSpan('handle order', async (span) => {
        if (message.topic === 'events.order') followUpId = await w.outbox.enqueue(pool, { topic: 'events.follow-up', payload: { after: message.id } });
        span.end();
      });
    });

    const { id, request } = await tracer.startActiveSpan('POST /orders', async (span) => {
      const enqueued = await withTransaction(pool, (tx) =>
        w.outbox.enqueue(tx, { topic: 'events.order', key: 'o-1', payload: { n: 1 }, correlationId: 'conv-7', headers: { tenant: 't1' } }),
      );
      span.end();
      return { id: enqueued, request: span.spanContext() };
    });

    const process = await waitFor('the process span', ofMessage('process events.order', id));
    const followUpProcess = await waitFor('the follow-up process span', () => (followUpId === undefined ? undefined : ofMessage('process events.follow-up', followUpId)()));
    const spans = otel.spans();
    const send = byId(spans, parentId(process));
    const handle = spans.find((span) => span.name === 'handle order' && parentId(span) === process.spanContext().spanId);

    expect(send?.name).toBe('send events.order');
    expect(send?.kind).toBe(SpanKind.PRODUCER);
    expect(parentId(send!)).toBe(request.spanId);
    expect(send?.attributes).toEqual({
      'messaging.system': 'rabbitmq',
      'messaging.destination.name': 'events.order',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.message.id': id,
      'messaging.message.conversation_id': 'conv-7',
      'messaging.message.body.size': 7,
      'postbox.attempt': 1,
    });
    expect(process.kind).toBe(SpanKind.CONSUMER);
    expect(process.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.destination.name': 'events.order',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.message.id': id,
      'messaging.message.conversation_id': 'conv-7',
      'postbox.outcome': 'ack',
    });
    expect(handle).toBeDefined();
    for (const span of [send!, process, handle!]) expect(span.spanContext().traceId).toBe(request.traceId);
    const delivered = w.received.find((m) => m.id === id);
    expect(delivered?.headers.tenant).toBe('t1');
    expect(delivered?.headers.traceparent).toBe(`00-${request.traceId}-${send!.spanContext().spanId}-01`);

    // The follow-up, enqueued inside the process span: its send span is a child of that process span.
    const followUpSend = byId(spans, parentId(followUpProcess));
    expect(followUpSend?.name).toBe('send events.follow-up');
    expect(parentId(followUpSend!)).toBe(handle!.spanContext().spanId);
    expect(followUpProcess.spanContext().traceId).toBe(request.traceId);
  });

  it("carries the trace of a producer facade's call the same way; a header the caller set wins", async () => {
    const w = await world();
    const channel = outboxChannel(await admin.channel(), { outbox: w.outbox });
    const request = await trace.getTracer('test').startActiveSpan('request', async (span) => {
      await withTransaction(pool, async () => {
        await channel.publish(w.exchange, 'events.facade', Buffer.from('traced'));
        await channel.publish(w.exchange, 'events.own', Buffer.from('own'), { headers: { traceparent: 'mine' } });
      });
      span.end();
      return span.spanContext();
    });
    const send = await waitFor('the send span', () => otel.named('send events.facade')[0]);
    const traced = await waitFor('the traced delivery', () => w.received.find((m) => m.topic === 'events.facade'));
    const own = await waitFor('the delivery with its own header', () => w.received.find((m) => m.topic === 'events.own'));
    expect(parentId(send)).toBe(request.spanId);
    expect(traced.headers.traceparent).toBe(`00-${request.traceId}-${send.spanContext().spanId}-01`);
    expect(own.headers.traceparent).toBe('mine');
  });

  it('starts no span on the relay for a message enqueued without an active span', async () => {
    const w = await world();
    const id = await withTransaction(pool, (tx) => w.outbox.enqueue(tx, { topic: 'events.plain', payload: { n: 2 } }));
    const process = await waitFor('the process span', ofMessage('process events.plain', id));
    expect(otel.spans().filter((span) => span.kind === SpanKind.PRODUCER && span.attributes['messaging.message.id'] === id)).toEqual([]);
    expect(process.parentSpanContext).toBeUndefined();
    expect(w.received.find((m) => m.id === id)?.headers.traceparent).toBeUndefined();
  });
});
