/**
 * What an outbox message looks like as a BullMQ job, shared by the transport (writes it) and the
 * worker middleware (reads it).
 *
 * - jobId = the message id, so a re-publish after a relay crash is a no-op while the job exists.
 * - name = the route's job name (default: the postbox topic).
 * - data = a PostboxJobData envelope (default), or, with `jobData: 'payload'`, the payload value
 *   alone for existing workers that read job.data directly (the worker middleware then takes the
 *   id from job.id and the topic from the job name; headers are not carried).
 *
 * In the envelope a JSON payload is stored as its value (readable in any BullMQ dashboard), any
 * other content type as base64 text.
 */
import { ContentType, type Envelope, type OutboxMessage } from '../../src/message.js';

/** Marks job data written by postbox (and its format version). */
export const ENVELOPE_MARK = 'postbox';
export const ENVELOPE_VERSION = 1;

export interface PostboxJobData {
  readonly [ENVELOPE_MARK]: typeof ENVELOPE_VERSION;
  readonly id: string;
  readonly topic: string;
  readonly key: string | null;
  readonly contentType: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly correlationId: string | null;
  readonly replyTo: string | null;
  /** ISO time the message was written to the outbox. */
  readonly createdAt: string | null;
  /** Which relay publish attempt added the job (1 = first). */
  readonly publishAttempt: number;
  /** The payload's JSON value, when the content type is JSON (exclusive with payloadBase64). */
  readonly payload?: unknown;
  /** The payload bytes, base64, for every other content type. */
  readonly payloadBase64?: string;
}

export type JobDataMode = 'envelope' | 'payload';

function isJson(contentType: string): boolean {
  const base = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return base === ContentType.Json || base.endsWith('+json');
}

/** Throws (a SyntaxError) only when a message claims JSON and its bytes are not JSON. */
export function toJobData(message: OutboxMessage, mode: JobDataMode): unknown {
  const json = isJson(message.contentType);
  if (mode === 'payload') return json ? JSON.parse(message.payload.toString('utf8')) : message.payload.toString('base64');
  const created = message.createdAt.getTime();
  const base = {
    [ENVELOPE_MARK]: ENVELOPE_VERSION,
    id: message.id,
    topic: message.topic,
    key: message.key,
    contentType: message.contentType,
    headers: message.headers,
    correlationId: message.correlationId,
    replyTo: message.replyTo,
    createdAt: Number.isFinite(created) ? message.createdAt.toISOString() : null,
    publishAttempt: message.attempt,
  };
  return json
    ? { ...base, payload: JSON.parse(message.payload.toString('utf8')) }
    : { ...base, payloadBase64: message.payload.toString('base64') };
}

export function isPostboxJobData(data: unknown): data is PostboxJobData {
  return (
    typeof data === 'object' &&
    data !== null &&
    (data as Record<string, unknown>)[ENVELOPE_MARK] === ENVELOPE_VERSION &&
    typeof (data as Record<string, unknown>).id === 'string'
  );
}

/** The envelope a job carries; `fallback` names the job when its data is a bare payload. */
export function fromJobData(data: unknown, fallback: { readonly id: string; readonly topic: string }): Envelope {
  if (isPostboxJobData(data)) {
    const payload =
      data.payloadBase64 !== undefined
        ? Buffer.from(data.payloadBase64, 'base64')
        : Buffer.from(JSON.stringify(data.payload ?? null), 'utf8');
    return {
      id: data.id,
      topic: data.topic,
      key: data.key ?? null,
      payload,
      contentType: data.contentType,
      headers: data.headers ?? {},
      correlationId: data.correlationId ?? null,
      replyTo: data.replyTo ?? null,
    };
  }
  return {
    id: fallback.id,
    topic: fallback.topic,
    key: null,
    payload: Buffer.from(JSON.stringify(data ?? null), 'utf8'),
    contentType: ContentType.Json,
    headers: {},
    correlationId: null,
    replyTo: null,
  };
}
