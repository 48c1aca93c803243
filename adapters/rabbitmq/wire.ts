/**
 * What an outbox message looks like on the wire, and the per-message publish errors.
 *
 * Properties: messageId = id, persistent, contentType, correlationId, replyTo, type = topic,
 * timestamp = createdAt in whole seconds (AMQP timestamps are seconds; the exact time is in the
 * postbox-created-at header). Headers: the message's own, plus postbox-message-id, postbox-topic,
 * postbox-key (when set), postbox-publish-attempt and postbox-created-at (ISO), all strings.
 * A message written through outboxChannel() keeps the properties its caller gave amqplib instead
 * (channel-route.ts), with the same identity headers added.
 */
import { ErrorCode, NonRetryableError, PostboxError } from '../../src/errors.js';
import { Header, type OutboxMessage } from '../../src/message.js';
import { redactText } from '../../src/redact.js';
import { wireHeaders } from '../../src/facade/route.js';
import type { PublishProperties } from './publish-channel.js';
import type { StoredPublishOptions } from './publish-options.js';

export interface Destination {
  readonly exchange: string;
  readonly routingKey: string;
  /**
   * Set for a message written through outboxChannel(): the wrapped channel's own publish options,
   * sent as they are (with the identity headers added) instead of the envelope's properties.
   */
  readonly options?: StoredPublishOptions;
}

export function publishProperties(message: OutboxMessage, destination: Destination): PublishProperties {
  if (destination.options !== undefined) return channelProperties(message, destination.options);
  const created = message.createdAt.getTime();
  return {
    messageId: message.id,
    persistent: true,
    contentType: message.contentType,
    type: message.topic,
    headers: withIdentity({ ...message.headers }, message),
    ...(Number.isFinite(created) ? { timestamp: Math.floor(created / 1000) } : {}),
    ...(message.correlationId !== null ? { correlationId: message.correlationId } : {}),
    ...(message.replyTo !== null ? { replyTo: message.replyTo } : {}),
  };
}

/**
 * A facade message: the options the wrapped channel was given, mandatory only when asked (as
 * amqplib), headers with the envelope's own (the trace context; never the route) under the
 * caller's (a header the caller set wins) and the identity headers added.
 */
function channelProperties(message: OutboxMessage, options: StoredPublishOptions): PublishProperties {
  return {
    ...options,
    mandatory: options.mandatory === true,
    headers: withIdentity({ ...wireHeaders(message.headers), ...(options.headers as object | null | undefined) }, message),
  };
}

/** Adds postbox-message-id, -topic, -publish-attempt, -key (when set) and -created-at to headers. */
function withIdentity(headers: Record<string, unknown>, message: OutboxMessage): Record<string, unknown> {
  headers[Header.MessageId] = message.id;
  headers[Header.Topic] = message.topic;
  headers[Header.PublishAttempt] = String(message.attempt);
  if (message.key !== null) headers[Header.Key] = message.key;
  if (Number.isFinite(message.createdAt.getTime())) headers[Header.CreatedAt] = message.createdAt.toISOString();
  return headers;
}

function describe(message: OutboxMessage): string {
  return `message ${message.id} (topic ${JSON.stringify(message.topic)})`;
}

function describeDestination(destination: Destination): string {
  return destination.exchange === ''
    ? `the default exchange (routing key ${JSON.stringify(destination.routingKey)} names a queue)`
    : `exchange ${JSON.stringify(destination.exchange)} with routing key ${JSON.stringify(destination.routingKey)}`;
}

export function unroutable(message: OutboxMessage, destination: Destination, replyCode: number, replyText: string): PostboxError {
  const elsewhere = destination.options === undefined ? ', or add a route for the topic (routes option)' : '';
  const fix =
    destination.exchange === ''
      ? `declare a queue named ${JSON.stringify(destination.routingKey)}${elsewhere}`
      : `bind a queue whose pattern matches the routing key${elsewhere}`;
  return new PostboxError(
    ErrorCode.Unroutable,
    `RabbitMQ returned ${describe(message)} as unroutable (${replyCode} ${replyText}): no queue is bound for ` +
      `${describeDestination(destination)}; ${fix}`,
  );
}

export function nacked(message: OutboxMessage): PostboxError {
  return new PostboxError(
    ErrorCode.Nacked,
    `RabbitMQ nacked ${describe(message)}: the broker did not take responsibility for it (for example a queue at its ` +
      `length limit with overflow reject-publish); it will be retried`,
  );
}

export function publishTimedOut(message: OutboxMessage, timeoutMs: number): PostboxError {
  return new PostboxError(
    ErrorCode.PublishTimeout,
    `no confirm from RabbitMQ for ${describe(message)} within ${timeoutMs} ms (publishTimeoutMs); the broker may be ` +
      `overloaded or blocked by a memory or disk alarm. It will be retried and may then arrive twice`,
  );
}

export function connectionLost(message: OutboxMessage, cause: unknown): PostboxError {
  const reason = cause instanceof Error ? ` (${redactText(cause.message)})` : '';
  return new PostboxError(
    ErrorCode.ConnectionLost,
    `the RabbitMQ channel closed before ${describe(message)} was confirmed${reason}; it may or may not have ` +
      `arrived and will be retried`,
    { cause },
  );
}

export function stopped(message: OutboxMessage): PostboxError {
  return new PostboxError(
    ErrorCode.Stopped,
    `publishing ${describe(message)} was stopped (signal aborted or transport closed) before RabbitMQ confirmed it; ` +
      `it may or may not have arrived`,
  );
}

export function destinationNotFound(message: OutboxMessage, exchange: string, target: string, reason: string): PostboxError {
  return new PostboxError(
    ErrorCode.DestinationNotFound,
    `cannot publish ${describe(message)}: exchange ${JSON.stringify(exchange)} is not usable on RabbitMQ at ${target} ` +
      `(${redactText(reason)}); declare it in topology.exchanges or create it on the broker, or fix the route. ` +
      `It is checked again on the next attempt`,
  );
}

export function unencodable(message: OutboxMessage, cause: unknown): NonRetryableError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new NonRetryableError(
    `${describe(message)} cannot be encoded as an AMQP message (${reason}); keep its headers well under 64 KiB`,
    { cause, code: ErrorCode.Validation },
  );
}

export function foreignUser(message: OutboxMessage, userId: string, user: string): NonRetryableError {
  return new NonRetryableError(
    `cannot publish ${describe(message)}: its userId property ${JSON.stringify(userId)} is not the user the relay logs in ` +
      `as (${JSON.stringify(user)}), and RabbitMQ closes the channel of a publish whose userId differs from the ` +
      `connection's user. Run the relay as ${JSON.stringify(userId)}, or publish without userId`,
  );
}
