/**
 * Consumer side: runHandler runs every delivery's handler inside a CONSUMER span
 * `process <topic>`, child of the trace context in the message's headers (the relay's send span),
 * or a new trace when the message carries none. The handler runs with that span active, so the
 * spans it creates are its children and a message it enqueues (a reply) carries the trace on.
 * Without an OpenTelemetry SDK the span is a no-op.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { ConsumedMessage, ConsumeContext } from '../consumer/types.js';
import { failSpan } from './errors.js';
import { Attr, postboxTracer } from './tracer.js';

export interface ProcessSpan {
  /** Runs fn with the process span active. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Ends the span with what happens to the delivery; `error` is the handler's. */
  end(outcome: 'ack' | 'retry' | 'dead', error?: Error): void;
}

/** A process span that does nothing: what runHandler gets when a propagator or tracer throws. */
const UNTRACED: ProcessSpan = { run: (fn) => fn(), end: () => undefined };

/**
 * Never throws: a broken custom propagator or tracer costs the trace, never the delivery
 * (runHandler promises it never throws).
 */
export function startProcessSpan(message: ConsumedMessage, consume: ConsumeContext): ProcessSpan {
  try {
    return startTracedProcess(message, consume);
  } catch {
    return UNTRACED;
  }
}

function startTracedProcess(message: ConsumedMessage, consume: ConsumeContext): ProcessSpan {
  // Not the ambient context: a broker client's callback may run in whatever context the consumer was started in.
  const parent = propagation.extract(ROOT_CONTEXT, message.headers ?? {});
  const span: Span = postboxTracer().startSpan(`process ${message.topic}`, { kind: SpanKind.CONSUMER, attributes: processAttributes(message, consume) }, parent);
  const active: Context = trace.setSpan(parent, span);
  return {
    run: (fn) => context.with(active, fn),
    end(outcome, error) {
      try {
        if (span.isRecording()) span.setAttribute(Attr.Outcome, outcome);
        if (error !== undefined) failSpan(span, error);
        span.end();
      } catch {
        // a broken tracer costs the span, never the delivery
      }
    },
  };
}

function processAttributes(message: ConsumedMessage, consume: ConsumeContext): Attributes {
  const attributes: Attributes = {
    [Attr.System]: consume.transport,
    [Attr.DestinationName]: message.topic,
    [Attr.OperationType]: 'process',
    [Attr.OperationName]: 'process',
    [Attr.MessageId]: message.id,
    [Attr.Consumer]: consume.consumer,
    [Attr.BodySize]: message.payload.length,
    [Attr.Attempt]: message.attempt,
  };
  if (message.correlationId !== null) attributes[Attr.ConversationId] = message.correlationId;
  return attributes;
}
