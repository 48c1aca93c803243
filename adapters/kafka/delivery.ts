/**
 * A consumed Kafka record as handlers see it (ConsumedMessage), plus what the consumer needs to
 * retry or dead-letter it.
 *
 * - id: the postbox-message-id header; a record without one (from another producer) gets
 *   `kafka:<topic>/<partition>@<offset>` of where it was first consumed. That id is stable for
 *   every redelivery of the record and for its retry copies (which carry it in the header), so the
 *   inbox deduplicates them; two records are never taken for one.
 * - topic: the postbox-topic header, else the Kafka topic it was first consumed from.
 * - key: the postbox-key header, else the record key as UTF-8 (null when none).
 * - contentType: the content-type header, else application/octet-stream.
 * - attempt: the postbox-attempt header (1 when absent or not a whole number >= 1).
 * - headers: every header as a string (UTF-8); of a repeated header, the last value.
 */
import { createConsumedMessage } from '../../src/consumer/message.js';
import { parseHistory, type AttemptError } from '../../src/consumer/outcome.js';
import type { ConsumedMessage } from '../../src/consumer/types.js';
import { ContentType, Header } from '../../src/message.js';
import type { ConsumedRecord, RecordHeaders } from './client.js';
import { KafkaHeader } from './wire.js';

/** Where a record was first consumed from (before any retry copy). */
export interface Coordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export interface Delivery {
  readonly message: ConsumedMessage;
  readonly record: ConsumedRecord;
  /** Where this record is now. */
  readonly at: Coordinates;
  readonly original: Coordinates;
  /** Errors of earlier attempts. */
  readonly history: AttemptError[];
  readonly firstFailedAt: Date | undefined;
  /** Retry copies: not to be handled before this time. */
  readonly dueAt: Date | undefined;
}

export function readDelivery(record: ConsumedRecord, at: Coordinates, attemptOverride?: number): Delivery {
  const headers = stringHeaders(record.headers);
  const original = originalCoordinates(headers, at);
  const message = createConsumedMessage({
    id: nonEmpty(headers[Header.MessageId]) ?? fallbackId(original),
    topic: nonEmpty(headers[Header.Topic]) ?? original.topic,
    key: nonEmpty(headers[Header.Key]) ?? (record.key === null || record.key.length === 0 ? null : record.key.toString('utf8')),
    payload: record.value ?? Buffer.alloc(0),
    contentType: nonEmpty(headers[KafkaHeader.ContentType]) ?? ContentType.Bytes,
    headers: Object.freeze(headers),
    correlationId: nonEmpty(headers[Header.CorrelationId]) ?? null,
    replyTo: nonEmpty(headers[Header.ReplyTo]) ?? null,
    attempt: attemptOverride ?? parseWholeNumber(headers[Header.Attempt]) ?? 1,
  });
  return {
    message,
    record,
    at,
    original,
    history: parseHistory(headers[Header.ErrorHistory]),
    firstFailedAt: parseDate(headers[Header.FirstFailedAt]),
    dueAt: parseDate(headers[KafkaHeader.DueAt]),
  };
}

export function fallbackId(at: Coordinates): string {
  return `kafka:${at.topic}/${at.partition}@${at.offset}`;
}

function originalCoordinates(headers: Readonly<Record<string, string>>, at: Coordinates): Coordinates {
  const topic = nonEmpty(headers[KafkaHeader.OriginalTopic]);
  const partition = parseWholeNumber(headers[KafkaHeader.OriginalPartition], 0);
  const offset = headers[KafkaHeader.OriginalOffset];
  if (topic === undefined || partition === undefined || offset === undefined || !/^\d+$/.test(offset)) return at;
  return { topic, partition, offset };
}

function parseWholeNumber(value: string | undefined, min = 1): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= min ? n : undefined;
}

function parseDate(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = /^\d+$/.test(value) ? new Date(Number(value)) : new Date(value);
  return Number.isFinite(date.getTime()) ? date : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.length === 0 ? undefined : value;
}

export function stringHeaders(headers: RecordHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const last: unknown = Array.isArray(value) ? value[value.length - 1] : value;
    if (typeof last === 'string') out[name] = last;
    else if (Buffer.isBuffer(last)) out[name] = last.toString('utf8');
  }
  return out;
}
