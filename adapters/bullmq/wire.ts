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
 * In the envelope the payload keeps its exact bytes, as with the other transports: a JSON (or any
 * UTF-8 text) payload as text, readable in any BullMQ dashboard; anything else as base64. It is
 * never parsed and serialised again on the way, which could change it (a JSON number beyond 2^53
 * loses digits; 1.10 becomes 1.1). In 'payload' mode the job data must be the value itself, so
 * there the payload is parsed and the worker sees it as BullMQ serialises it.
 */
import { isUtf8 } from 'node:buffer';
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
  /** The payload as text, when the content type is JSON or text and the bytes are UTF-8. */
  readonly payloadText?: string;
  /** The payload bytes, base64, otherwise. */
  readonly payloadBase64?: string;
  /** Read for compatibility: a payload stored as its JSON value (never written by this version). */
  readonly payload?: unknown;
}

export type JobDataMode = 'envelope' | 'payload';

function mediaType(contentType: string): string {
  return contentType.split(';', 1)[0]!.trim().toLowerCase();
}

function isJson(contentType: string): boolean {
  const base = mediaType(contentType);
  return base === ContentType.Json || base.endsWith('+json');
}

/** Content the envelope may carry as text: JSON and text/*, when the bytes are valid UTF-8. */
function asText(message: OutboxMessage): boolean {
  return (isJson(message.contentType) || mediaType(message.contentType).startsWith('text/')) && isUtf8(message.payload);
}

/** Throws (a SyntaxError) only in 'payload' mode, when a message claims JSON and its bytes are not JSON. */
export function toJobData(message: OutboxMessage, mode: JobDataMode): unknown {
  if (mode === 'payload') return isJson(message.contentType) ? JSON.parse(message.payload.toString('utf8')) : message.payload.toString('base64');
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
  return asText(message) ? { ...base, payloadText: message.payload.toString('utf8') } : { ...base, payloadBase64: message.payload.toString('base64') };
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
      data.payloadText !== undefined
        ? Buffer.from(data.payloadText, 'utf8')
        : data.payloadBase64 !== undefined
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
