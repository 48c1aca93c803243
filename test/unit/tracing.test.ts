/** The trace-context helpers of enqueue, the relay's send spans and runHandler's process span, with an in-memory SDK. */
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runHandler } from '../../src/consumer/outcome.js';
import { createConsumedMessage } from '../../src/consumer/message.js';
import type { OutboxMessage } from '../../src/message.js';
import { compileRetryPolicies } from '../../src/retry/policy.js';
import { activeTraceHeaders, addTraceHeaders } from '../../src/tracing/enqueue.js';
import { startPublishSpans } from '../../src/tracing/publish.js';
import { TRACER_NAME } from '../../src/tracing/tracer.js';
import { failed, PUBLISHED } from '../../src/transport.js';
import { installInMemoryTracing, parentId, type InMemoryTracing } from '../helpers/otel.js';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

function outboxMessage(headers: Record<string, string> = {}, topic = 'orders.created'): OutboxMessage {
  return {
    id: '0190a5a4-0000-7000-8000-000000000001',
    topic,
    key: null,
    payload: Buffer.from('{"a":1}'),
    contentType: 'application/json',
    headers,
    correlationId: 'conv-1',
    replyTo: null,
    attempt: 2,
    createdAt: new Date(),
  };
}

describe('without an SDK', () => {
  it('adds nothing at enqueue and starts no send span', () => {
    expect(activeTraceHeaders()).toBeUndefined();
    expect(startPublishSpans('rabbitmq', [outboxMessage({ traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` })])).toBeUndefined();
  });
});

describe('with an in-memory SDK', () => {
  let otel: InMemoryTracing;
  beforeAll(() => {
    otel = installInMemoryTracing();
  });
  afterEach(() => otel.exporter.reset());
  afterAll(() => otel.uninstall());
  const tracer = () => trace.getTracer('test');

  it('enqueue: injects the active span context, only when a span is active, never over a header already set', () => {
    expect(activeTraceHeaders()).toBeUndefined();
    tracer().startActiveSpan('request', (span) => {
      const headers = activeTraceHeaders();
      expect(headers?.traceparent).toMatch(TRACEPARENT);
      expect(headers?.traceparent).toContain(span.spanContext().spanId);
      const own = { traceparent: 'mine', other: 'x' };
      expect(addTraceHeaders(own, headers!)).toBe(own);
      const plain = { other: 'x' };
      expect(addTraceHeaders(plain, headers!)).toEqual({ other: 'x', traceparent: headers!.traceparent });
      expect(plain).toEqual({ other: 'x' });
      span.end();
    });
  });

  it('relay: a send span per traced message, child of the stored context, whose context goes on the wire; untraced messages untouched', () => {
    const stored = tracer().startActiveSpan('request', (span) => {
      span.end();
      return { headers: activeTraceHeaders()!, spanId: span.spanContext().spanId, traceId: span.spanContext().traceId };
    });
    otel.exporter.reset();
    expect(startPublishSpans('rabbitmq', [outboxMessage(), outboxMessage({ a: 'b' })])).toBeUndefined();

    const plain = outboxMessage({ a: 'b' });
    const traced = outboxMessage({ ...stored.headers, a: 'b' }, 'orders.paid');
    const failing = outboxMessage({ ...stored.headers }, 'orders.failed');
    const spans = startPublishSpans('rabbitmq', [plain, traced, failing])!;
    expect(spans.messages[0]).toBe(plain);
    expect(traced.headers.traceparent).toBe(stored.headers.traceparent); // the original is not changed
    spans.end([PUBLISHED, PUBLISHED, failed(Object.assign(new Error('no route to amqp://user:secret@host'), { code: 'POSTBOX_UNROUTABLE' }))]);

    const [send, sendFailed] = otel.spans();
    expect(send?.name).toBe('send orders.paid');
    expect(send?.kind).toBe(SpanKind.PRODUCER);
    expect(send?.instrumentationScope.name).toBe(TRACER_NAME);
    expect(send?.spanContext().traceId).toBe(stored.traceId);
    expect(parentId(send!)).toBe(stored.spanId);
    expect(send?.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.destination.name': 'orders.paid',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.message.id': traced.id,
      'messaging.message.conversation_id': 'conv-1',
      'postbox.attempt': 2,
    });
    expect(send?.status.code).toBe(SpanStatusCode.UNSET);
    const wire = spans.messages[1]!;
    expect(wire.headers.a).toBe('b');
    expect(wire.headers.traceparent).toBe(`00-${stored.traceId}-${send!.spanContext().spanId}-01`);

    expect(sendFailed?.status.code).toBe(SpanStatusCode.ERROR);
    expect(sendFailed?.events[0]?.name).toBe('exception');
    expect(JSON.stringify(sendFailed?.events)).not.toContain('secret');
  });

  it('relay: a publish call that throws ends every send span with the error', () => {
    const headers = tracer().startActiveSpan('request', (span) => {
      span.end();
      return activeTraceHeaders()!;
    });
    otel.exporter.reset();
    startPublishSpans('kafka', [outboxMessage(headers), outboxMessage(headers)])!.end(new Error('broker gone'));
    expect(otel.spans().map((s) => s.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.ERROR]);
  });

  it('consumer: runHandler runs the handler in a process span, child of the message context, with the outcome', async () => {
    const sender = tracer().startSpan('send x');
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(context.active(), sender), headers);
    const message = createConsumedMessage({ ...outboxMessage(headers), attempt: 1 });
    const consume = { consumer: 'billing', transport: 'rabbitmq', signal: new AbortController().signal };
    const policy = compileRetryPolicies({ default: { maxAttempts: 2 } }).forTopic(message.topic);

    let inner: string | undefined;
    const ok = await runHandler(
      async () => {
        inner = tracer().startActiveSpan('work', (span) => {
          span.end();
          return span.spanContext().spanId;
        });
      },
      message,
      consume,
      { policy },
    );
    expect(ok.kind).toBe('ack');
    const failedRun = await runHandler(async () => Promise.reject(new Error('boom')), message, consume, { policy });
    expect(failedRun.kind).toBe('retry');

    const [work, processOk, processFailed] = otel.spans();
    expect(processOk?.name).toBe('process orders.created');
    expect(processOk?.kind).toBe(SpanKind.CONSUMER);
    expect(parentId(processOk!)).toBe(sender.spanContext().spanId);
    expect(work?.spanContext().spanId).toBe(inner);
    expect(parentId(work!)).toBe(processOk?.spanContext().spanId);
    expect(processOk?.attributes).toMatchObject({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'orders.created',
      'messaging.message.id': message.id,
      'postbox.consumer': 'billing',
      'postbox.outcome': 'ack',
    });
    expect(processFailed?.status.code).toBe(SpanStatusCode.ERROR);
    expect(processFailed?.attributes['postbox.outcome']).toBe('retry');
    sender.end();
  });

  it('consumer: a message without trace context gets a process span of its own', async () => {
    const message = createConsumedMessage({ ...outboxMessage(), attempt: 1 });
    const policy = compileRetryPolicies({}).forTopic(message.topic);
    await runHandler(async () => undefined, message, { consumer: 'c', transport: 'memory', signal: new AbortController().signal }, { policy });
    const [span] = otel.spans();
    expect(span?.name).toBe('process orders.created');
    expect(span?.parentSpanContext).toBeUndefined();
  });
});
