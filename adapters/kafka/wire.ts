/**
 * What an outbox message looks like in Kafka, and the per-message publish errors.
 *
 * Record: key = the message key (null when none: no ordering), value = the payload bytes,
 * timestamp = createdAt (milliseconds). Headers (strings): the message's own, then
 * postbox-message-id, postbox-topic, postbox-key (when set), postbox-publish-attempt,
 * postbox-created-at (ISO), postbox-correlation-id and postbox-reply-to (when set) and
 * content-type. Postbox's names win over the message's own headers of the same name.
 *
 * A message written by the producer facade (it has a route, see facade-route.ts) is sent as the
 * wrapped producer would have sent it: the route's topic, key, headers, partition and timestamp,
 * the payload as value, plus only the identity headers (facadeIdentityHeaders) and the trace
 * context stored at enqueue (when a span was active and the caller set no header of that name):
 * no postbox-key (a consumer reads the record key, as from the plain producer) and no content-type.
 */
import { ErrorCode, NonRetryableError, PostboxError } from '../../src/errors.js';
import { Header, type OutboxMessage } from '../../src/message.js';
import { redactText } from '../../src/redact.js';
import type { KafkaFailure } from './classify.js';
import type { ProducerRecord } from './client.js';
import { routedRecord, type RoutedRecord } from './facade-route.js';

/** Header names this adapter adds to those of src/message.ts. */
export const KafkaHeader = {
  ContentType: 'content-type',
  /** Retry copies: when the copy may be handled (ISO time). */
  DueAt: 'postbox-due-at',
  /** Retry and dead-letter copies: where the message was first consumed from. */
  OriginalTopic: 'postbox-original-topic',
  OriginalPartition: 'postbox-original-partition',
  OriginalOffset: 'postbox-original-offset',
  /** Retry and dead-letter copies: the consumer group whose handler failed (groups share `${topic}.retry`). */
  ConsumerGroup: 'postbox-consumer-group',
} as const;

export function toRecord(message: OutboxMessage): ProducerRecord {
  const headers: Record<string, string> = {
    ...message.headers,
    [Header.MessageId]: message.id,
    [Header.Topic]: message.topic,
    [Header.PublishAttempt]: String(message.attempt),
    [KafkaHeader.ContentType]: message.contentType,
  };
  if (message.key !== null) headers[Header.Key] = message.key;
  if (message.correlationId !== null) headers[Header.CorrelationId] = message.correlationId;
  if (message.replyTo !== null) headers[Header.ReplyTo] = message.replyTo;
  const created = message.createdAt.getTime();
  if (Number.isFinite(created)) headers[Header.CreatedAt] = message.createdAt.toISOString();
  return {
    key: message.key,
    value: message.payload,
    headers,
    ...(Number.isFinite(created) ? { timestamp: String(created) } : {}),
  };
}

/** The postbox headers a facade message's record gets on top of its own: its identity and attempt. */
export function facadeIdentityHeaders(message: OutboxMessage): Record<string, string> {
  const headers: Record<string, string> = {
    [Header.MessageId]: message.id,
    [Header.Topic]: message.topic,
    [Header.PublishAttempt]: String(message.attempt),
  };
  if (message.correlationId !== null) headers[Header.CorrelationId] = message.correlationId;
  if (message.replyTo !== null) headers[Header.ReplyTo] = message.replyTo;
  const created = message.createdAt.getTime();
  if (Number.isFinite(created)) headers[Header.CreatedAt] = message.createdAt.toISOString();
  return headers;
}

/** A facade message's Kafka topic and record (see facade-route.ts), or why it fails permanently. */
export function toRoutedRecord(message: OutboxMessage): RoutedRecord {
  return routedRecord(message, facadeIdentityHeaders);
}

function describe(message: OutboxMessage): string {
  return `message ${message.id} (topic ${JSON.stringify(message.topic)})`;
}

export function illegalTopic(message: OutboxMessage, problem: string): NonRetryableError {
  return new NonRetryableError(`cannot publish ${describe(message)} to Kafka: ${problem}`, { code: ErrorCode.Validation });
}

export function destinationNotFound(message: OutboxMessage, kafkaTopic: string, target: string): PostboxError {
  return new PostboxError(
    ErrorCode.DestinationNotFound,
    `cannot publish ${describe(message)}: Kafka topic ${JSON.stringify(kafkaTopic)} does not exist on ${target}; ` +
      `create it (kafka-topics.sh --create, or admin.createTopics), or route the topic elsewhere (routes option). ` +
      `Topics are not created automatically (allowAutoTopicCreation: false). It is checked again on the next attempt`,
  );
}

export function partitionNotFound(message: OutboxMessage, kafkaTopic: string, partition: number, target: string): PostboxError {
  return new PostboxError(
    ErrorCode.DestinationNotFound,
    `cannot publish ${describe(message)}: it names partition ${partition} of Kafka topic ${JSON.stringify(kafkaTopic)}, which the ` +
      `producer does not know on ${target}, so it was not written; add partitions to the topic (kafka-topics.sh --alter --partitions) ` +
      `or send to an existing one. It is checked again on the next attempt`,
  );
}

export function publishTimedOut(message: OutboxMessage, kafkaTopic: string, timeoutMs: number): PostboxError {
  return new PostboxError(
    ErrorCode.PublishTimeout,
    `no acknowledgement from Kafka for ${describe(message)} on topic ${JSON.stringify(kafkaTopic)} within ${timeoutMs} ms ` +
      `(publishTimeoutMs); the brokers may be down, overloaded or missing in-sync replicas. It will be retried and may then arrive twice`,
  );
}

export function earlierSendPending(message: OutboxMessage, kafkaTopic: string): PostboxError {
  return new PostboxError(
    ErrorCode.PublishTimeout,
    `${describe(message)} was not sent: an earlier, abandoned send to Kafka topic ${JSON.stringify(kafkaTopic)} has not ` +
      `settled yet, and sending now could overtake it (breaking per-key order). It will be retried`,
  );
}

export function noProducer(message: OutboxMessage, kafkaTopic: string, target: string, cause: unknown): PostboxError {
  const reason = cause instanceof Error ? redactText(cause.message) : String(cause);
  return new PostboxError(
    ErrorCode.ConnectionLost,
    `${describe(message)} was not sent to Kafka topic ${JSON.stringify(kafkaTopic)}: no producer could connect to ${target} ` +
      `(${reason}). It will be retried`,
    { cause },
  );
}

export function stopped(message: OutboxMessage): PostboxError {
  return new PostboxError(
    ErrorCode.Stopped,
    `publishing ${describe(message)} was stopped (signal aborted or transport closed) before Kafka acknowledged it; ` +
      `it may or may not have arrived`,
  );
}

/** The error of one message whose send failed as a whole (see classify.ts). */
export function sendFailed(message: OutboxMessage, kafkaTopic: string, target: string, failure: KafkaFailure): Error {
  const where = `Kafka topic ${JSON.stringify(kafkaTopic)} (${target})`;
  switch (failure.kind) {
    case 'missing-topic':
      return destinationNotFound(message, kafkaTopic, target);
    case 'record':
    case 'bug':
      return new NonRetryableError(
        `Kafka rejected ${describe(message)} on ${where} and retrying cannot help: ${failure.reason}. ` +
          (failure.type === 'MESSAGE_TOO_LARGE' || failure.type === 'RECORD_LIST_TOO_LARGE'
            ? `Keep payload and headers under the topic's max.message.bytes (or raise it)`
            : `Fix the message or the topic's configuration`),
        { code: ErrorCode.NonRetryable },
      );
    case 'connection':
      return new PostboxError(
        ErrorCode.ConnectionLost,
        `the connection to Kafka was lost before ${describe(message)} was acknowledged on ${where} (${failure.reason}); ` +
          `it may or may not have arrived and will be retried`,
      );
    case 'timeout':
      return new PostboxError(
        ErrorCode.PublishTimeout,
        `Kafka did not acknowledge ${describe(message)} on ${where} in time (${failure.reason}); it will be retried and may then arrive twice`,
      );
    case 'producer-state':
    case 'rejected':
      return new PostboxError(
        ErrorCode.Nacked,
        `Kafka did not take ${describe(message)} on ${where} (${failure.reason}); it will be retried` +
          (failure.kind === 'producer-state' ? ' with a new producer' : ''),
      );
  }
}
