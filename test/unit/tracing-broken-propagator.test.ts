/** A broken custom propagator or tracer costs the trace, never the enqueue, the publish or the delivery. */
import { context, propagation, trace, type TextMapPropagator } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runHandler } from '../../src/consumer/outcome.js';
import { createConsumedMessage } from '../../src/consumer/message.js';
import { compileRetryPolicies } from '../../src/retry/policy.js';
import { activeTraceHeaders } from '../../src/tracing/enqueue.js';
import { startPublishSpans } from '../../src/tracing/publish.js';
import type { OutboxMessage } from '../../src/message.js';

const broken: TextMapPropagator = {
  inject() {
    throw new Error('propagator bug');
  },
  extract() {
    throw new Error('propagator bug');
  },
  fields: () => ['traceparent'],
};

const TRACEPARENT = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;

describe('with a propagator that throws', () => {
  beforeAll(() => {
    propagation.setGlobalPropagator(broken);
  });
  afterAll(() => {
    propagation.disable();
  });

  it('enqueue stores no trace headers instead of failing', () => {
    const active = trace.setSpanContext(context.active(), { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 });
    expect(context.with(active, () => activeTraceHeaders())).toBeUndefined();
  });

  it('the relay sends the chunk as stored instead of failing', () => {
    const message = { id: 'm', topic: 't', key: null, payload: Buffer.alloc(0), contentType: 'x', headers: { traceparent: TRACEPARENT }, correlationId: null, replyTo: null, attempt: 1, createdAt: new Date() } as OutboxMessage;
    expect(startPublishSpans('rabbitmq', [message])).toBeUndefined();
  });

  it('runHandler still runs the handler and acks', async () => {
    let ran = false;
    const message = createConsumedMessage({ id: 'm', topic: 't', payload: Buffer.from('{}'), headers: { traceparent: TRACEPARENT } } as never);
    const outcome = await runHandler(
      async () => {
        ran = true;
      },
      message,
      { consumer: 'c', transport: 'rabbitmq' } as never,
      { policy: compileRetryPolicies(undefined).default },
    );
    expect(ran).toBe(true);
    expect(outcome.kind).toBe('ack');
  });
});
