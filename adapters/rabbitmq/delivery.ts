/**
 * A RabbitMQ delivery as handlers see it (ConsumedMessage), plus what the consumer needs to retry
 * or dead-letter it.
 *
 * - id: the messageId property, else the postbox-message-id header, else 'sha256:' + the hex
 *   SHA-256 of the routing key, a zero byte and the body (a message published without an id by
 *   another producer still gets a stable id, so the inbox can dedup its redeliveries; two such
 *   messages with equal routing key and body count as the same message). Retried copies carry the
 *   id in messageId, so it does not change when the routing key does.
 * - topic: the postbox-topic header, else the routing key.
 * - attempt: the postbox-attempt header (1 when absent or not a whole number >= 1).
 * - headers: every header as a string (Buffers as UTF-8, numbers and booleans as text, tables
 *   and arrays such as x-death as JSON).
 */
import { createHash } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import { createConsumedMessage } from '../../src/consumer/message.js';
import { parseHistory, type AttemptError } from '../../src/consumer/outcome.js';
import type { ConsumedMessage } from '../../src/consumer/types.js';
import { ContentType, Header } from '../../src/message.js';
import { ORIGINAL_EXCHANGE_HEADER, ORIGINAL_ROUTING_KEY_HEADER } from './copies.js';

export interface Delivery {
  readonly message: ConsumedMessage;
  readonly raw: ConsumeMessage;
  /** Errors of earlier attempts. */
  readonly history: AttemptError[];
  readonly firstFailedAt: Date | undefined;
  /** Where the message was first published (before any retry). */
  readonly originalExchange: string;
  readonly originalRoutingKey: string;
}

export function readDelivery(raw: ConsumeMessage): Delivery {
  const headers = stringHeaders(raw.properties.headers);
  const { properties, fields } = raw;
  const message = createConsumedMessage({
    id: messageId(raw, headers),
    topic: nonEmpty(headers[Header.Topic]) ?? fields.routingKey,
    key: nonEmpty(headers[Header.Key]) ?? null,
    payload: raw.content,
    contentType: nonEmpty(properties.contentType) ?? ContentType.Bytes,
    headers: Object.freeze(headers),
    correlationId: nonEmpty(properties.correlationId) ?? nonEmpty(headers[Header.CorrelationId]) ?? null,
    replyTo: nonEmpty(properties.replyTo) ?? null,
    attempt: parseAttempt(headers[Header.Attempt]),
  });
  const failedAt = headers[Header.FirstFailedAt];
  const firstFailedAt = failedAt === undefined ? undefined : new Date(failedAt);
  return {
    message,
    raw,
    history: parseHistory(headers[Header.ErrorHistory]),
    firstFailedAt: firstFailedAt !== undefined && Number.isFinite(firstFailedAt.getTime()) ? firstFailedAt : undefined,
    originalExchange: headers[ORIGINAL_EXCHANGE_HEADER] ?? fields.exchange,
    originalRoutingKey: headers[ORIGINAL_ROUTING_KEY_HEADER] ?? fields.routingKey,
  };
}

/**
 * postbox's own id first: a message sent through outboxChannel() keeps the caller's messageId
 * property, which callers often reuse (an order id on several events); the inbox must not take
 * those for duplicates. Then the property (other producers), then a hash of the content.
 */
function messageId(raw: ConsumeMessage, headers: Readonly<Record<string, string>>): string {
  const fromHeader = nonEmpty(headers[Header.MessageId]);
  if (fromHeader !== undefined) return fromHeader;
  const fromProperty = nonEmpty(raw.properties.messageId);
  if (fromProperty !== undefined) return fromProperty;
  const hash = createHash('sha256').update(raw.fields.routingKey).update(Buffer.of(0)).update(raw.content);
  return `sha256:${hash.digest('hex')}`;
}

function parseAttempt(value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value)) return 1;
  const attempt = Number(value);
  return Number.isSafeInteger(attempt) && attempt >= 1 ? attempt : 1;
}

function nonEmpty(value: unknown): string | undefined {
  if (typeof value === 'string') return value.length > 0 ? value : undefined;
  if (Buffer.isBuffer(value)) return value.length > 0 ? value.toString('utf8') : undefined;
  return undefined;
}

export function stringHeaders(headers: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const text = headerText(value);
    if (text !== undefined) out[name] = text;
  }
  return out;
}

function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'object' && '!' in value && 'value' in value) return headerText((value as { value: unknown }).value);
  try {
    return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
  } catch {
    return undefined;
  }
}
