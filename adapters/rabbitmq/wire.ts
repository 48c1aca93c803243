/**
 * What an outbox message looks like on the wire, and the per-message publish errors.
 *
 * Properties: messageId = id, persistent, contentType, correlationId, replyTo, type = topic,
 * timestamp = createdAt in whole seconds (AMQP timestamps are seconds; the exact time is in the
 * postbox-created-at header). Headers: the message's own, plus postbox-message-id, postbox-topic,
 * postbox-key (when set), postbox-publish-attempt and postbox-created-at (ISO), all strings.
 */
import { ErrorCode, NonRetryableError, PostboxError } from '../../src/errors.js';
import { Header, type OutboxMessage } from '../../src/message.js';
import { redactText } from '../../src/redact.js';
import type { PublishProperties } from './publish-channel.js';

export interface Destination {
  readonly exchange: string;
  readonly routingKey: string;
}

export function publishProperties(message: OutboxMessage): PublishProperties {
  const headers: Record<string, string> = {
    ...message.headers,
    [Header.MessageId]: message.id,
    [Header.Topic]: message.topic,
    [Header.PublishAttempt]: String(message.attempt),
  };
  if (message.key !== null) headers[Header.Key] = message.key;
  const created = message.createdAt.getTime();
  if (Number.isFinite(created)) headers[Header.CreatedAt] = message.createdAt.toISOString();
  return {
    messageId: message.id,
    persistent: true,
    contentType: message.contentType,
    type: message.topic,
    headers,
    ...(Number.isFinite(created) ? { timestamp: Math.floor(created / 1000) } : {}),
    ...(message.correlationId !== null ? { correlationId: message.correlationId } : {}),
    ...(message.replyTo !== null ? { replyTo: message.replyTo } : {}),
  };
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
  const fix =
    destination.exchange === ''
      ? `declare a queue named ${JSON.stringify(destination.routingKey)}, or add a route for the topic (routes option)`
      : 'bind a queue whose pattern matches the routing key, or route the topic elsewhere (routes option)';
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
