import { ContentType, RESERVED_HEADER_PREFIX, type Envelope, type MessageInput } from '../message.js';
import { ValidationError, type Problem } from '../errors.js';
import { topicProblem } from '../topic.js';
import { isUuid, uuidv7 } from '../uuid.js';

/** A message checked and serialised, ready for the INSERT. */
export interface PreparedMessage extends Envelope {
  readonly idempotencyKey: string | null;
  readonly deliverAt: Date | null;
  readonly delayMs: number | null;
}

export interface Limits {
  readonly maxPayloadBytes: number;
}

const FIELDS = new Set([
  'id', 'topic', 'key', 'payload', 'contentType', 'headers', 'correlationId', 'replyTo', 'idempotencyKey', 'deliverAt', 'delayMs',
]);
const MAX_SHORT = 255;
const NUL_MESSAGE = 'must not contain the NUL character (\\u0000), which PostgreSQL cannot store in text; remove it or send the data in the payload';
const MAX_KEY = 1024;
const MAX_HEADERS = 64;
const MAX_HEADER_VALUE = 4096;
const MAX_HEADERS_BYTES = 16 * 1024;

/**
 * Checks every message and serialises its payload, before any SQL. Reports every problem of every
 * message in one ValidationError, so nothing is written and the caller's transaction stays usable.
 */
export function prepareMessages(messages: readonly unknown[], limits: Limits): PreparedMessage[] {
  const problems: Problem[] = [];
  const prepared: PreparedMessage[] = [];
  const ids = new Set<string>();
  messages.forEach((message, index) => {
    const at = messages.length === 1 ? 'message' : `messages[${index}]`;
    const result = prepareOne(message, at, limits, problems);
    if (result === undefined) return;
    if (ids.has(result.id)) problems.push({ field: `${at}.id`, message: `duplicates the id of an earlier message in this call; ids must be unique` });
    ids.add(result.id);
    prepared.push(result);
  });
  if (problems.length > 0) throw new ValidationError('enqueue: invalid message', problems);
  return prepared;
}

function prepareOne(input: unknown, at: string, limits: Limits, problems: Problem[]): PreparedMessage | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    problems.push({ field: at, message: `must be an object like { topic, payload }, got ${describe(input)}` });
    return undefined;
  }
  const before = problems.length;
  const m = input as MessageInput & Record<string, unknown>;
  for (const field of Object.keys(m)) {
    if (!FIELDS.has(field)) problems.push({ field: `${at}.${field}`, message: `is not a message field; allowed: ${[...FIELDS].join(', ')}` });
  }
  if (m.id !== undefined && !isUuid(m.id)) problems.push({ field: `${at}.id`, message: `must be a UUID (or left out to get a UUIDv7), got ${describe(m.id)}` });
  const topicIssue = topicProblem(m.topic);
  if (topicIssue !== undefined) problems.push({ field: `${at}.topic`, message: topicIssue });
  if (m.key !== undefined && m.key !== null) checkString(m.key, `${at}.key`, MAX_KEY, problems);
  for (const field of ['contentType', 'correlationId', 'replyTo', 'idempotencyKey'] as const) {
    if (m[field] !== undefined) checkString(m[field], `${at}.${field}`, MAX_SHORT, problems);
  }
  const headers = checkHeaders(m.headers, `${at}.headers`, problems);
  const schedule = checkSchedule(m, at, problems);
  const payload = serialisePayload(m, at, limits, problems);
  if (problems.length > before || payload === undefined) return undefined;
  return {
    id: m.id ?? uuidv7(),
    topic: m.topic,
    key: m.key ?? null,
    payload: payload.bytes,
    contentType: m.contentType ?? payload.contentType,
    headers,
    correlationId: m.correlationId ?? null,
    replyTo: m.replyTo ?? null,
    idempotencyKey: m.idempotencyKey ?? null,
    deliverAt: schedule.deliverAt,
    delayMs: schedule.delayMs,
  };
}

function checkString(value: unknown, field: string, max: number, problems: Problem[]): void {
  if (typeof value !== 'string' || value.length === 0) {
    problems.push({ field, message: `must be a non-empty string, got ${describe(value)}` });
  } else if (value.includes('\u0000')) {
    problems.push({ field, message: NUL_MESSAGE });
  } else if (Buffer.byteLength(value, 'utf8') > max) {
    problems.push({ field, message: `must be at most ${max} bytes of UTF-8, got ${Buffer.byteLength(value, 'utf8')}` });
  }
}

function checkHeaders(value: unknown, field: string, problems: Problem[]): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) {
    problems.push({ field, message: `must be a plain object of string values, got ${describe(value)}${value instanceof Map ? ' (convert a Map with Object.fromEntries)' : ''}` });
    return {};
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_HEADERS) problems.push({ field, message: `must have at most ${MAX_HEADERS} entries, got ${entries.length}` });
  for (const [name, headerValue] of entries) {
    const at = `${field}.${name}`;
    if (name.length === 0 || Buffer.byteLength(name, 'utf8') > MAX_SHORT) {
      problems.push({ field: at, message: `header names must be 1 to ${MAX_SHORT} bytes of UTF-8` });
    }
    if (name.includes('\u0000') || (typeof headerValue === 'string' && headerValue.includes('\u0000'))) {
      problems.push({ field: at, message: NUL_MESSAGE });
    }
    if (name.toLowerCase().startsWith(RESERVED_HEADER_PREFIX)) {
      problems.push({ field: at, message: `names starting with "${RESERVED_HEADER_PREFIX}" are reserved for postbox; rename the header` });
    }
    if (typeof headerValue !== 'string') {
      problems.push({ field: at, message: `header values must be strings, got ${describe(headerValue)}; convert it (e.g. String(value) or JSON.stringify(value))` });
    } else if (headerValue.length > MAX_HEADER_VALUE) {
      problems.push({ field: at, message: `header values must be at most ${MAX_HEADER_VALUE} characters, got ${headerValue.length}; put large data in the payload` });
    }
  }
  // Brokers encode all headers of a message in one bounded table (AMQP: 64 KiB with the properties).
  const total = entries.reduce((sum, [name, v]) => sum + Buffer.byteLength(name) + (typeof v === 'string' ? Buffer.byteLength(v) : 0), 0);
  if (total > MAX_HEADERS_BYTES) {
    problems.push({ field, message: `must total at most ${MAX_HEADERS_BYTES} bytes (names and values), got ${total}; put large data in the payload` });
  }
  return { ...(value as Record<string, string>) };
}

function checkSchedule(m: MessageInput, at: string, problems: Problem[]): { deliverAt: Date | null; delayMs: number | null } {
  if (m.deliverAt !== undefined && m.delayMs !== undefined) {
    problems.push({ field: `${at}.deliverAt`, message: 'give either deliverAt or delayMs, not both' });
  }
  if (m.deliverAt !== undefined && !(m.deliverAt instanceof Date && Number.isFinite(m.deliverAt.getTime()))) {
    problems.push({ field: `${at}.deliverAt`, message: `must be a valid Date, got ${describe(m.deliverAt)}` });
  }
  if (m.delayMs !== undefined && !(Number.isSafeInteger(m.delayMs) && m.delayMs >= 0)) {
    problems.push({ field: `${at}.delayMs`, message: `must be an integer number of milliseconds >= 0, got ${describe(m.delayMs)}` });
  }
  return { deliverAt: m.deliverAt ?? null, delayMs: m.delayMs ?? null };
}

function serialisePayload(
  m: MessageInput,
  at: string,
  limits: Limits,
  problems: Problem[],
): { bytes: Buffer; contentType: string } | undefined {
  const field = `${at}.payload`;
  if (!('payload' in m) || m.payload === undefined) {
    problems.push({ field, message: 'is required; use null for an empty JSON payload' });
    return undefined;
  }
  let result: { bytes: Buffer; contentType: string };
  if (m.payload instanceof Uint8Array) {
    // A copy: the caller may reuse its buffer before the query is sent.
    result = { bytes: Buffer.from(m.payload), contentType: ContentType.Bytes };
  } else {
    let json: string | undefined;
    try {
      json = JSON.stringify(m.payload);
    } catch (error) {
      problems.push({ field, message: `cannot be serialised to JSON (${(error as Error).message}); convert BigInt values to strings and remove circular references, or pass a Buffer` });
      return undefined;
    }
    if (json === undefined) {
      problems.push({ field, message: `cannot be serialised to JSON (got ${describe(m.payload)}); pass a JSON value or a Buffer` });
      return undefined;
    }
    result = { bytes: Buffer.from(json, 'utf8'), contentType: ContentType.Json };
  }
  if (result.bytes.length > limits.maxPayloadBytes) {
    problems.push({ field, message: `is ${result.bytes.length} bytes, over the limit of ${limits.maxPayloadBytes} (maxPayloadBytes); store large data elsewhere and send a reference` });
    return undefined;
  }
  return result;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Map) return 'a Map';
  if (value instanceof Date) return `Date(${String(value.getTime())})`;
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case 'bigint':
      return `BigInt ${value}`;
    case 'object':
      return 'an object';
    case 'function':
      return 'a function';
    default:
      return `${typeof value} ${String(value)}`;
  }
}
