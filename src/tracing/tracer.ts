/**
 * The tracer postbox's spans come from, and the attribute names it sets (OpenTelemetry messaging
 * semantic conventions). Only @opentelemetry/api is imported: without an SDK registered by the
 * application, every call here is a no-op.
 */
import { trace, type Tracer } from '@opentelemetry/api';

export const TRACER_NAME = 'postbox';
/** postbox's version (package.json). */
export const TRACER_VERSION = '0.1.0';

/** Looked up per use (cheap), so an SDK registered after postbox was loaded is picked up. */
export function postboxTracer(): Tracer {
  return trace.getTracer(TRACER_NAME, TRACER_VERSION);
}

export const Attr = {
  System: 'messaging.system',
  DestinationName: 'messaging.destination.name',
  OperationType: 'messaging.operation.type',
  OperationName: 'messaging.operation.name',
  MessageId: 'messaging.message.id',
  ConversationId: 'messaging.message.conversation_id',
  BodySize: 'messaging.message.body.size',
  /** postbox's own, on process spans: the consumer's name (the inbox's dedup scope). */
  Consumer: 'postbox.consumer',
  /** postbox's own: the relay's publish attempt (1 = first), or the consumer's delivery attempt. */
  Attempt: 'postbox.attempt',
  /** postbox's own, on process spans: ack, retry or dead. */
  Outcome: 'postbox.outcome',
} as const;
