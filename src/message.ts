/**
 * The message envelope, as a producer writes it and as a transport publishes it,
 * and the header names postbox puts on the wire.
 */

/** What a producer passes to enqueue(). */
export interface MessageInput {
  /** A UUID. Generated (UUIDv7) when absent. Stable for the message's life: the dedup key everywhere. */
  readonly id?: string;
  /** Words separated by '.', e.g. `orders.created`. Retry policies and routes match it with patterns. */
  readonly topic: string;
  /** Ordering key: messages with the same key are published in commit order. */
  readonly key?: string | null;
  /** A JSON-serialisable value, or bytes (Buffer / Uint8Array) sent as they are. */
  readonly payload: unknown;
  /** Defaults to `application/json` for values and `application/octet-stream` for bytes. */
  readonly contentType?: string;
  /** String values only. Names starting with `postbox-` are reserved. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly correlationId?: string;
  readonly replyTo?: string;
  /** A second enqueue with the same topic and idempotency key returns the first id and writes nothing. */
  readonly idempotencyKey?: string;
  /** Publish no earlier than this time. Exclusive with delayMs. */
  readonly deliverAt?: Date;
  /** Publish no earlier than this many milliseconds after the insert. Exclusive with deliverAt. */
  readonly delayMs?: number;
}

/** The fields every message has on its way: in the outbox, on the wire, at the consumer. */
export interface Envelope {
  readonly id: string;
  readonly topic: string;
  readonly key: string | null;
  readonly payload: Buffer;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly correlationId: string | null;
  readonly replyTo: string | null;
}

/** A message as the relay hands it to a transport. */
export interface OutboxMessage extends Envelope {
  /** 1 for the first publish attempt. */
  readonly attempt: number;
  readonly createdAt: Date;
}

/** Header names postbox sets on the wire (plain names, no `x-` prefix). */
export const Header = {
  MessageId: 'postbox-message-id',
  Topic: 'postbox-topic',
  Key: 'postbox-key',
  /** Relay side: which publish attempt this is (1 = first). */
  PublishAttempt: 'postbox-publish-attempt',
  /** Consumer side: which delivery attempt this is for the consumer (absent or 1 = first). */
  Attempt: 'postbox-attempt',
  CorrelationId: 'postbox-correlation-id',
  /** Where a reply goes, for transports without a replyTo property of their own (Kafka). */
  ReplyTo: 'postbox-reply-to',
  CreatedAt: 'postbox-created-at',
  /** Consumer side: the last handler error, on retried and dead-lettered deliveries. */
  Error: 'postbox-error',
  /** Consumer side: JSON array of every handler error ({ at, attempt, message, code }). */
  ErrorHistory: 'postbox-error-history',
  /** Consumer side: why a delivery was dead-lettered. */
  DeadReason: 'postbox-dead-reason',
  /** Consumer side: when the first delivery attempt failed (ISO time). */
  FirstFailedAt: 'postbox-first-failed-at',
  /**
   * Outbox only, never on the wire: how a producer facade's message is sent (the wrapped client's
   * own destination and options, as JSON). Written by the facades, read and removed by the transports.
   */
  Route: 'postbox-route',
} as const;
export type Header = (typeof Header)[keyof typeof Header];

export const RESERVED_HEADER_PREFIX = 'postbox-';

export const ContentType = {
  Json: 'application/json',
  Bytes: 'application/octet-stream',
} as const;
