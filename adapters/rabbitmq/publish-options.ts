/**
 * amqplib's publish options as a producer facade stores them in the outbox: checked before any
 * SQL against what amqplib encodes and RabbitMQ accepts (so a bad option fails at the call, as
 * with amqplib, instead of closing the relay's channel later), and against what JSON represents
 * exactly (the options travel through the outbox as JSON, and the relay hands them back to
 * amqplib, which must then send the same properties the wrapped channel would have sent).
 */
import type { Options } from 'amqplib';
import { RESERVED_HEADER_PREFIX } from '../../src/message.js';
import { MAX_SHORT_STRING_BYTES, show, type Problems } from './validation.js';

/** The options amqplib's publish() and sendToQueue() read; any other field is ignored, as amqplib does. */
export const PUBLISH_OPTION_FIELDS = [
  'expiration',
  'userId',
  'CC',
  'BCC',
  'mandatory',
  'persistent',
  'deliveryMode',
  'contentType',
  'contentEncoding',
  'headers',
  'priority',
  'correlationId',
  'replyTo',
  'messageId',
  'timestamp',
  'type',
  'appId',
] as const;

/** Publish options whose values survive JSON unchanged. */
export type StoredPublishOptions = Readonly<Options.Publish>;

/** amqplib throws on a null expiration, and turns a null CC or BCC into the routing key "null". */
const NULL_REFUSED: ReadonlySet<string> = new Set(['expiration', 'CC', 'BCC']);
/** amqplib's typed header values ({ '!': type, value }). */
const TYPED_VALUES = new Set([
  'double', 'float64', 'float', 'byte', 'int8', 'unsignedbyte', 'uint8', 'short', 'int16', 'unsignedshort', 'uint16',
  'int', 'int32', 'unsignedint', 'uint32', 'long', 'int64', 'timestamp', 'decimal', 'string', 'boolean',
]);

/**
 * The known options of `input` without undefined values, or undefined (with problems pushed,
 * fields named `options.<name>`) when one of them would not reach the wire exactly as amqplib
 * sends it.
 */
export function checkPublishOptions(input: unknown, problems: Problems): StoredPublishOptions | undefined {
  if (input === undefined || input === null) return {};
  if (!isPlainObject(input)) {
    problems.push({ field: 'options', message: `must be a plain object of amqplib publish options, got ${show(input)}` });
    return undefined;
  }
  const before = problems.length;
  const stored: Record<string, unknown> = {};
  for (const name of PUBLISH_OPTION_FIELDS) {
    const value = input[name];
    if (value === undefined) continue;
    // amqplib reads null as "not set" (persistent: null as non-persistent), and so it does after JSON.
    if (value === null && !NULL_REFUSED.has(name)) {
      stored[name] = null;
      continue;
    }
    checkOption(name, value, `options.${name}`, problems);
    stored[name] = value;
  }
  return problems.length > before ? undefined : stored;
}

function checkOption(name: (typeof PUBLISH_OPTION_FIELDS)[number], value: unknown, field: string, problems: Problems): void {
  const problem = (message: string): void => {
    problems.push({ field, message });
  };
  switch (name) {
    case 'mandatory':
    case 'persistent':
      if (typeof value !== 'boolean') problem(`must be true or false, got ${show(value)}`);
      return;
    case 'deliveryMode':
      if (typeof value !== 'boolean' && !isOctet(value)) problem(`must be a boolean, or 1 (transient) or 2 (persistent), got ${show(value)}`);
      return;
    case 'priority':
      if (!isOctet(value)) problem(`must be an integer from 0 to 255, got ${show(value)}`);
      return;
    case 'timestamp':
      if (!(typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** 64)) {
        problem(`must be a whole number >= 0 (AMQP timestamps are seconds since the epoch), got ${describe(value)}`);
      }
      return;
    case 'expiration': {
      const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
      if (typeof text !== 'string' || !/^\d{1,19}$/.test(text)) {
        problem(`must be a whole number of milliseconds >= 0 (a number or a string of digits), got ${describe(value)}; RabbitMQ closes the channel on any other value`);
      }
      return;
    }
    case 'CC':
    case 'BCC':
      if (typeof value === 'string') return;
      if (Array.isArray(value)) value.forEach((v, i) => (typeof v === 'string' ? undefined : problems.push({ field: `${field}[${i}]`, message: `must be a routing key string, got ${describe(v)}` })));
      else problem(`must be a routing key or an array of routing keys, got ${describe(value)}`);
      return;
    case 'headers':
      checkHeaders(value, field, problems);
      return;
    default:
      checkShortString(value, field, problems);
  }
}

function checkShortString(value: unknown, field: string, problems: Problems): void {
  if (typeof value !== 'string') problems.push({ field, message: `must be a string, got ${describe(value)}` });
  else if (Buffer.byteLength(value) > MAX_SHORT_STRING_BYTES) {
    problems.push({ field, message: `must be at most ${MAX_SHORT_STRING_BYTES} bytes of UTF-8 (an AMQP short string), got ${Buffer.byteLength(value)}` });
  }
}

function checkHeaders(value: unknown, field: string, problems: Problems): void {
  if (!isPlainObject(value)) {
    problems.push({ field, message: `must be a plain object of header values, got ${describe(value)}` });
    return;
  }
  for (const name of Object.keys(value)) {
    if (name.toLowerCase().startsWith(RESERVED_HEADER_PREFIX)) {
      problems.push({ field: `${field}.${name}`, message: `names starting with "${RESERVED_HEADER_PREFIX}" are reserved for postbox; rename the header` });
    }
  }
  checkTable(value, field, problems, new Set());
}

/** A field table (headers, or a nested table): every key a short string, every value exact in JSON. */
function checkTable(table: Record<string, unknown>, field: string, problems: Problems, seen: Set<object>): void {
  seen.add(table);
  for (const [name, value] of Object.entries(table)) {
    const at = `${field}.${name}`;
    if (Buffer.byteLength(name) > MAX_SHORT_STRING_BYTES) {
      problems.push({ field: at, message: `header names must be at most ${MAX_SHORT_STRING_BYTES} bytes of UTF-8` });
    }
    if (value !== undefined) checkValue(value, at, problems, seen); // amqplib skips undefined entries, as JSON does
  }
  seen.delete(table);
}

/**
 * A header value JSON carries exactly and amqplib can encode: a string, a finite number, a
 * boolean, null, an array or plain object of such values, or a typed value { '!': type, value }.
 */
function checkValue(value: unknown, field: string, problems: Problems, seen: Set<object>): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) problems.push({ field, message: `must be a finite number, got ${String(value)}; send it as a string` });
    return;
  }
  if (typeof value === 'object' && seen.has(value)) {
    problems.push({ field, message: 'refers back to a table that contains it; header values cannot be circular' });
    return;
  }
  if (Array.isArray(value)) {
    seen.add(value);
    value.forEach((item: unknown, i) => {
      if (item === undefined) problems.push({ field: `${field}[${i}]`, message: 'must not be undefined (amqplib cannot encode it); remove it or use null' });
      else checkValue(item, `${field}[${i}]`, problems, seen);
    });
    seen.delete(value);
    return;
  }
  if (isPlainObject(value)) {
    if (Object.hasOwn(value, '!')) checkTyped(value, field, problems, seen);
    else checkTable(value, field, problems, seen);
    return;
  }
  const hint = Buffer.isBuffer(value) || value instanceof Uint8Array
    ? `the facade stores options as JSON, which cannot hold bytes exactly; send ${JSON.stringify('base64:...')} text, or put the bytes in the content`
    : value instanceof Date
      ? `send value.toISOString(), or { '!': 'timestamp', value: seconds }`
      : typeof value === 'bigint'
        ? `send it as a string, or as a number when it is below 2^53`
        : 'use strings, finite numbers, booleans, null, arrays and plain objects';
  problems.push({ field, message: `cannot be stored exactly (got ${describe(value)}); ${hint}` });
}

function checkTyped(value: Record<string, unknown>, field: string, problems: Problems, seen: Set<object>): void {
  const type = value['!'];
  if (typeof type !== 'string' || !TYPED_VALUES.has(type)) {
    problems.push({ field: `${field}.!`, message: `must be an amqplib value type (${[...TYPED_VALUES].join(', ')}), got ${describe(type)}` });
    return;
  }
  if (value.value === undefined) problems.push({ field: `${field}.value`, message: `is required with '!': '${type}'` });
  else checkValue(value.value, `${field}.value`, problems, seen);
}

function isOctet(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 255;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function describe(value: unknown): string {
  if (typeof value === 'bigint') return `BigInt ${value}`;
  if (Buffer.isBuffer(value)) return 'a Buffer';
  if (value instanceof Uint8Array) return 'a Uint8Array';
  if (value instanceof Date) return 'a Date';
  if (typeof value === 'symbol') return 'a symbol';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && !isPlainObject(value)) {
    return `an instance of ${(value as object).constructor?.name ?? 'a class'}`;
  }
  return show(value);
}
