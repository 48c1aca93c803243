/**
 * The records the consumer writes for a failed delivery, and the one replay writes back.
 *
 * A copy keeps the record's key (same partition of the target topic for a key), value, timestamp
 * and headers (binary header values as they are), and sets:
 * - postbox-message-id and postbox-topic (so the id and topic survive even for records that had none),
 * - postbox-attempt (retry: the next attempt; dead: the attempt that failed last),
 * - postbox-error (the last error), postbox-error-history (JSON: first and last entries),
 *   postbox-first-failed-at,
 * - postbox-original-topic / -partition / -offset: where the record was first consumed,
 * - postbox-consumer-group: the group whose handler failed (every group of a topic shares its
 *   retry topic, and skips the copies of other groups),
 * - retry copies: postbox-due-at (ISO time); dead copies: postbox-dead-reason.
 */
import type { AttemptError, Outcome } from '../../src/consumer/outcome.js';
import { trimHistory } from '../../src/consumer/outcome.js';
import { Header } from '../../src/message.js';
import type { ProducerRecord, RecordHeaders } from './client.js';
import type { Delivery } from './delivery.js';
import { KafkaHeader } from './wire.js';

export function retryTopicName(topic: string): string {
  return `${topic}.retry`;
}

export function deadLetterTopicName(topic: string): string {
  return `${topic}.dead`;
}

/** Error histories longer than this (JSON characters) keep fewer entries. */
const MAX_HISTORY_CHARS = 16_000;

type Retry = Extract<Outcome, { kind: 'retry' }>;
type Dead = Extract<Outcome, { kind: 'dead' }>;

export function retryRecord(delivery: Delivery, outcome: Retry, group: string, now: Date): ProducerRecord {
  const headers = failureHeaders(delivery, outcome, group);
  headers[Header.Attempt] = String(delivery.message.attempt + 1);
  headers[KafkaHeader.DueAt] = new Date(now.getTime() + outcome.delayMs).toISOString();
  return copy(delivery, headers);
}

export function deadRecord(delivery: Delivery, outcome: Dead, group: string): ProducerRecord {
  const headers = failureHeaders(delivery, outcome, group);
  headers[Header.Attempt] = String(delivery.message.attempt);
  headers[Header.DeadReason] = outcome.reason;
  delete headers[KafkaHeader.DueAt];
  return copy(delivery, headers);
}

/** A dead letter sent back to its topic: attempt and failure state reset; id, topic and error history kept. */
export function replayRecord(record: { key: Buffer | null; value: Buffer | null; timestamp: string; headers?: RecordHeaders }): ProducerRecord {
  const headers = rawHeaders(record.headers);
  for (const name of [
    Header.Attempt,
    Header.Error,
    Header.DeadReason,
    Header.FirstFailedAt,
    KafkaHeader.DueAt,
    KafkaHeader.OriginalTopic,
    KafkaHeader.OriginalPartition,
    KafkaHeader.OriginalOffset,
    KafkaHeader.ConsumerGroup,
  ]) {
    delete headers[name];
  }
  return { key: record.key, value: record.value, headers, timestamp: record.timestamp };
}

function failureHeaders(delivery: Delivery, outcome: Retry | Dead, group: string): Record<string, Buffer | string> {
  const { message, original } = delivery;
  const headers = rawHeaders(delivery.record.headers);
  const last = outcome.history[outcome.history.length - 1];
  headers[Header.MessageId] = message.id;
  headers[Header.Topic] = message.topic;
  headers[Header.Error] = last?.message ?? `${outcome.error.name}: ${outcome.error.message}`.slice(0, 2_000);
  headers[Header.ErrorHistory] = historyHeader(outcome.history);
  headers[Header.FirstFailedAt] = (delivery.firstFailedAt ?? new Date(outcome.history[0]?.at ?? Date.now())).toISOString();
  headers[KafkaHeader.OriginalTopic] = original.topic;
  headers[KafkaHeader.OriginalPartition] = String(original.partition);
  headers[KafkaHeader.OriginalOffset] = original.offset;
  headers[KafkaHeader.ConsumerGroup] = group;
  return headers;
}

function copy(delivery: Delivery, headers: Record<string, Buffer | string>): ProducerRecord {
  const { record } = delivery;
  return { key: record.key, value: record.value, headers, timestamp: record.timestamp };
}

/** The history as JSON: the first and last entries (trimHistory), fewer when it would be too long. */
export function historyHeader(history: readonly AttemptError[]): string {
  let keep = 20;
  let json = JSON.stringify(trimHistory(history, keep));
  while (json.length > MAX_HISTORY_CHARS && keep > 1) {
    keep = Math.floor(keep / 2);
    json = JSON.stringify(trimHistory(history, keep));
  }
  return json;
}

/** Headers as a producer takes them: of a repeated header, the last value; binary values kept. */
function rawHeaders(headers: RecordHeaders | undefined): Record<string, Buffer | string> {
  const out: Record<string, Buffer | string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const last = Array.isArray(value) ? (value as ReadonlyArray<Buffer | string>)[value.length - 1] : (value as Buffer | string | undefined);
    if (last !== undefined) out[name] = last;
  }
  return out;
}
