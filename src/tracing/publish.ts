/**
 * Relay side: a message whose headers carry a trace context (stored at enqueue) gets a PRODUCER
 * span `send <topic>`, child of that context, ended with the broker's answer; the message handed
 * to the transport carries the send span's context instead, so the consumer's process span is
 * its child. Messages without trace headers cost nothing: with no propagator registered not even
 * a header lookup, otherwise one lookup per propagator field.
 */
import { isSpanContextValid, propagation, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { OutboxMessage } from '../message.js';
import type { PublishResult } from '../transport.js';
import { failSpan } from './errors.js';
import { Attr, postboxTracer } from './tracer.js';

export interface PublishSpans {
  /** The chunk to hand to the transport: same order; traced messages are copies with the send span's context. */
  readonly messages: readonly OutboxMessage[];
  /** Ends every span with the transport's results, or with the error publish() threw. */
  end(outcome: readonly PublishResult[] | Error): void;
}

/**
 * Starts the send spans of a chunk; undefined when no message of it carries a trace context.
 * Never throws: a broken custom propagator or tracer costs the trace (the chunk goes out as
 * stored), never the publish.
 */
export function startPublishSpans(system: string, chunk: readonly OutboxMessage[]): PublishSpans | undefined {
  try {
    return startTracedChunk(system, chunk);
  } catch {
    return undefined;
  }
}

function startTracedChunk(system: string, chunk: readonly OutboxMessage[]): PublishSpans | undefined {
  const fields = propagation.fields();
  if (fields.length === 0) return undefined;
  let messages: OutboxMessage[] | undefined;
  let spans: Array<Span | undefined> | undefined;
  for (let index = 0; index < chunk.length; index++) {
    const message = chunk[index] as OutboxMessage;
    if (!carriesAny(message.headers, fields)) continue;
    const parent = propagation.extract(ROOT_CONTEXT, message.headers);
    const parentSpanContext = trace.getSpanContext(parent);
    if (parentSpanContext === undefined || !isSpanContextValid(parentSpanContext)) continue;
    const span = postboxTracer().startSpan(`send ${message.topic}`, { kind: SpanKind.PRODUCER, attributes: sendAttributes(system, message) }, parent);
    const headers: Record<string, string> = { ...message.headers };
    for (const field of fields) delete headers[field];
    propagation.inject(trace.setSpan(parent, span), headers);
    messages ??= chunk.slice();
    spans ??= new Array<Span | undefined>(chunk.length);
    messages[index] = { ...message, headers };
    spans[index] = span;
  }
  if (messages === undefined || spans === undefined) return undefined;
  const started = spans;
  return {
    messages,
    end(outcome) {
      started.forEach((span, index) => {
        if (span === undefined) return;
        try {
          const result = outcome instanceof Error ? { ok: false as const, error: outcome } : outcome[index];
          if (result === undefined) failSpan(span, new Error('the transport returned no result for this message'));
          else if (!result.ok) failSpan(span, result.error);
          span.end();
        } catch {
          // a broken tracer costs the span, never the settlement
        }
      });
    },
  };
}

function carriesAny(headers: Readonly<Record<string, string>>, fields: readonly string[]): boolean {
  for (const field of fields) if (headers[field] !== undefined) return true;
  return false;
}

function sendAttributes(system: string, message: OutboxMessage): Attributes {
  const attributes: Attributes = {
    [Attr.System]: system,
    [Attr.DestinationName]: message.topic,
    [Attr.OperationType]: 'send',
    [Attr.OperationName]: 'send',
    [Attr.MessageId]: message.id,
    [Attr.BodySize]: message.payload.length,
    [Attr.Attempt]: message.attempt,
  };
  if (message.correlationId !== null) attributes[Attr.ConversationId] = message.correlationId;
  return attributes;
}
