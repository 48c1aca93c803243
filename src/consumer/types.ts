import type { Queryable } from '../db/queryable.js';
import type { Envelope } from '../message.js';

/** A delivered message as every adapter presents it to handlers. */
export interface ConsumedMessage extends Envelope {
  /** 1 on the first delivery to this consumer, counting the consumer's own retries. */
  readonly attempt: number;
  /** The payload parsed as JSON (throws a NonRetryableError when it is not valid JSON). */
  json<T = unknown>(): T;
}

export interface ConsumeContext {
  /** The consumer's name: the scope of inbox dedup (one name per logical consumer, e.g. a service + queue). */
  readonly consumer: string;
  /** The transport's name (rabbitmq, kafka, bullmq, memory). */
  readonly transport: string;
  /** Aborted when the consumer is stopping. */
  readonly signal: AbortSignal;
  /** The transaction opened by the inbox middleware: do the handler's side effects through it. */
  readonly tx?: Queryable;
}

export type Handler = (message: ConsumedMessage, context: ConsumeContext) => Promise<void>;

/** Handler in, handler out: retry, inbox dedup, tracing and logging all have this shape. */
export type Middleware = (next: Handler) => Handler;
