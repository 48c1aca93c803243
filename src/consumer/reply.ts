import type { Queryable } from '../db/queryable.js';
import { ValidationError } from '../errors.js';
import type { MessageInput } from '../message.js';
import { enqueue as enqueueDefault } from '../outbox/enqueue.js';
import type { Outbox } from '../outbox/enqueue.js';
import type { ConsumedMessage } from './types.js';

export interface ReplyOptions {
  /** The outbox to write the reply to (default schema `postbox` otherwise). */
  readonly outbox?: Outbox;
  readonly headers?: Readonly<Record<string, string>>;
  readonly contentType?: string;
  readonly key?: string;
}

/**
 * Answers a request: enqueues `payload` to the request's replyTo, with its correlationId (or its
 * id when it had none), in the handler's transaction `tx` — so the reply exists if and only if
 * the handler's work committed, and goes out through the relay like any message. The reply's
 * topic is the replyTo value; with RabbitMQ an unrouted topic goes to the queue of that name.
 */
export async function reply(tx: Queryable, request: ConsumedMessage, payload: unknown, options: ReplyOptions = {}): Promise<string> {
  if (request.replyTo === null || request.replyTo.length === 0) {
    throw new ValidationError('reply', [
      { field: 'request.replyTo', message: `message ${request.id} on ${request.topic} has no replyTo; the sender must set replyTo to get a reply` },
    ]);
  }
  const message: MessageInput = {
    topic: request.replyTo,
    payload,
    correlationId: request.correlationId ?? request.id,
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
    ...(options.key === undefined ? {} : { key: options.key }),
  };
  return options.outbox === undefined ? enqueueDefault(tx, message) : options.outbox.enqueue(tx, message);
}
