/**
 * What the producer facade writes for a kafkajs send() or sendBatch() call: one outbox message per
 * Kafka message, each with its route (facade-route.ts). Checks the whole call before any SQL and
 * reports every problem in one ValidationError naming each field as the call spells it
 * (`messages[2].headers.trace`, `topicMessages[0].topic`).
 *
 * Per Kafka message: topic = the postbox topic of its Kafka topic (the facade's `topic` option,
 * else the Kafka topic's own name); payload = the value's bytes (empty for a null value, a
 * tombstone); key = the ordering key (orderingKey below). The route keeps the exact bytes.
 */
import { createHash } from 'node:crypto';
import { ValidationError, type Problem } from '../../src/errors.js';
import { RESERVED_HEADER_PREFIX, type MessageInput } from '../../src/message.js';
import { topicProblem } from '../../src/topic.js';
import { encodeBytes, encodeKafkaRoute, type EncodedHeaderValue } from './facade-route.js';
import { isRecord, kafkaTopicProblem } from './validation.js';

/** A kafkajs Message as the facade takes it. */
export interface KafkaMessageInput {
  readonly key?: Buffer | string | null;
  /** null: a tombstone (deletes the key in a compacted topic). */
  readonly value: Buffer | string | null;
  readonly partition?: number;
  readonly headers?: { readonly [name: string]: Buffer | string | ReadonlyArray<Buffer | string> | undefined };
  /** Milliseconds since the epoch, as a string (kafkajs). */
  readonly timestamp?: string;
}

/** kafkajs send() input. acks, timeout and compression are checked, then left to the relay. */
export interface KafkaSendInput {
  readonly topic: string;
  readonly messages: readonly KafkaMessageInput[];
  readonly acks?: number;
  readonly timeout?: number;
  readonly compression?: number;
}

/** kafkajs sendBatch() input. */
export interface KafkaSendBatchInput {
  readonly topicMessages?: ReadonlyArray<{ readonly topic: string; readonly messages: readonly KafkaMessageInput[] }>;
  readonly acks?: number;
  readonly timeout?: number;
  readonly compression?: number;
}

/** The rows of one call, in call order, and where each came from (for naming fields). */
export interface FacadeWrite {
  readonly messages: MessageInput[];
  readonly routes: string[];
  /** e.g. `topicMessages[1].messages[0]`, per message. */
  readonly paths: string[];
}

/** The postbox topic of a Kafka topic (the facade's `topic` option, or the identity). */
export type TopicOf = (kafkaTopic: string) => string;

const SEND_FIELDS = ['topic', 'messages', 'acks', 'timeout', 'compression'];
const BATCH_FIELDS = ['topicMessages', 'acks', 'timeout', 'compression'];
const ENTRY_FIELDS = ['topic', 'messages'];
const MESSAGE_FIELDS = ['key', 'value', 'partition', 'headers', 'timestamp'];
/** The outbox's limit on keys (src/outbox/validate.ts). */
const MAX_KEY_BYTES = 1024;
/** kafkajs CompressionTypes: None, GZIP, Snappy, LZ4, ZSTD. */
const MAX_COMPRESSION = 4;

export function sendWrite(input: unknown, topicOf: TopicOf): FacadeWrite {
  const problems: Problem[] = [];
  const write: FacadeWrite = { messages: [], routes: [], paths: [] };
  if (!isRecord(input)) {
    problems.push({ field: 'record', message: `must be an object { topic, messages }, got ${describe(input)}` });
  } else {
    checkRequest(input, SEND_FIELDS, problems);
    addTopicMessages(input, '', topicOf, write, problems);
  }
  return done('send()', write, problems);
}

export function sendBatchWrite(input: unknown, topicOf: TopicOf): FacadeWrite {
  const problems: Problem[] = [];
  const write: FacadeWrite = { messages: [], routes: [], paths: [] };
  if (!isRecord(input)) {
    problems.push({ field: 'batch', message: `must be an object { topicMessages }, got ${describe(input)}` });
  } else {
    checkRequest(input, BATCH_FIELDS, problems);
    const entries = input.topicMessages;
    if (entries !== undefined && !Array.isArray(entries)) {
      problems.push({ field: 'topicMessages', message: `must be an array of { topic, messages }, got ${describe(entries)}` });
    } else {
      (entries ?? []).forEach((entry: unknown, i) => {
        const at = `topicMessages[${i}]`;
        if (!isRecord(entry)) problems.push({ field: at, message: `must be an object { topic, messages }, got ${describe(entry)}` });
        else {
          unknownFields(entry, ENTRY_FIELDS, at, problems);
          addTopicMessages(entry, `${at}.`, topicOf, write, problems);
        }
      });
    }
  }
  return done('sendBatch()', write, problems);
}

function done(call: string, write: FacadeWrite, problems: Problem[]): FacadeWrite {
  if (problems.length > 0) throw new ValidationError(`kafka producer facade ${call}: invalid input, nothing was written`, problems);
  return write;
}

/** acks, timeout and compression: what kafkajs takes; the relay's producer applies its own (README). */
function checkRequest(input: Record<string, unknown>, fields: readonly string[], problems: Problem[]): void {
  unknownFields(input, fields, '', problems);
  const { acks, timeout, compression } = input;
  if (acks !== undefined && acks !== -1 && acks !== 0 && acks !== 1) {
    problems.push({ field: 'acks', message: `must be -1 (all in-sync replicas), 0 or 1, got ${describe(acks)}` });
  }
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isFinite(timeout) && timeout >= 0)) {
    problems.push({ field: 'timeout', message: `must be a number of milliseconds >= 0, got ${describe(timeout)}` });
  }
  if (compression !== undefined && !(Number.isInteger(compression) && (compression as number) >= 0 && (compression as number) <= MAX_COMPRESSION)) {
    problems.push({ field: 'compression', message: `must be a kafkajs CompressionTypes value (0 to ${MAX_COMPRESSION}), got ${describe(compression)}` });
  }
}

function addTopicMessages(input: Record<string, unknown>, at: string, topicOf: TopicOf, write: FacadeWrite, problems: Problem[]): void {
  const kafkaTopic = input.topic;
  const topicIssue = kafkaTopicProblem(kafkaTopic);
  let topic: string | undefined;
  if (topicIssue !== undefined) {
    problems.push({ field: `${at}topic`, message: topicIssue });
  } else {
    topic = topicOf(kafkaTopic as string);
    const problem = topicProblem(topic);
    if (problem !== undefined) {
      problems.push({
        field: `${at}topic`,
        message:
          `Kafka topic ${JSON.stringify(kafkaTopic)} gives the postbox topic ${describe(topic)}, which ${problem}. ` +
          `Pass the facade's topic option to name it, e.g. outboxProducer(producer, { topic: (kafkaTopic) => 'orders.created' })`,
      });
      topic = undefined;
    }
  }
  const messages = input.messages;
  if (!Array.isArray(messages)) {
    problems.push({ field: `${at}messages`, message: `must be an array of { key?, value, headers?, partition?, timestamp? }, got ${describe(messages)}` });
    return;
  }
  messages.forEach((message: unknown, i) => {
    const path = `${at}messages[${i}]`;
    const converted = convertMessage(message, path, kafkaTopic as string, problems);
    if (converted === undefined || topic === undefined) return;
    write.messages.push({ topic, payload: converted.payload, ...(converted.key === null ? {} : { key: converted.key }) });
    write.routes.push(converted.route);
    write.paths.push(path);
  });
}

function convertMessage(input: unknown, at: string, kafkaTopic: string, problems: Problem[]): { payload: Buffer; key: string | null; route: string } | undefined {
  if (!isRecord(input)) {
    problems.push({ field: at, message: `must be an object { key?, value, headers?, partition?, timestamp? }, got ${describe(input)}` });
    return undefined;
  }
  const before = problems.length;
  unknownFields(input, MESSAGE_FIELDS, at, problems);
  const { key, value, partition, timestamp } = input;
  if (key !== undefined && key !== null && !isBytes(key)) problems.push({ field: `${at}.key`, message: `must be a string, a Buffer or null, got ${describe(key)}` });
  if (!('value' in input) || value === undefined) {
    problems.push({ field: `${at}.value`, message: 'is required: a string, a Buffer, or null for a tombstone' });
  } else if (value !== null && !isBytes(value)) {
    problems.push({ field: `${at}.value`, message: `must be a string, a Buffer or null (a tombstone), got ${describe(value)}` });
  }
  const hasPartition = partition !== undefined && partition !== null;
  if (hasPartition && !(Number.isSafeInteger(partition) && (partition as number) >= 0)) {
    problems.push({ field: `${at}.partition`, message: `must be a partition number (a whole number >= 0), got ${describe(partition)}` });
  }
  // kafkajs sends `message.timestamp || Date.now()`: a falsy timestamp means "now".
  const stamp = timestamp ? timestampOf(timestamp) : undefined;
  if (stamp === null) problems.push({ field: `${at}.timestamp`, message: `must be milliseconds since the epoch as a string of digits, e.g. String(Date.now()), got ${describe(timestamp)}` });
  const headers = convertHeaders(input.headers, `${at}.headers`, problems);
  if (problems.length > before) return undefined;

  const keyBytes = key === undefined || key === null ? null : toBytes(key as string | Buffer);
  const payload = value === null ? Buffer.alloc(0) : toBytes(value as string | Buffer);
  const route = encodeKafkaRoute({
    topic: kafkaTopic,
    key: key === undefined || key === null ? null : encodeBytes(key as string | Buffer),
    ...(headers === undefined ? {} : { headers }),
    ...(hasPartition ? { partition: partition as number } : {}),
    ...(stamp === undefined ? {} : { timestamp: stamp as string }),
    ...(value === null ? { tombstone: true as const } : {}),
  });
  return { payload, key: orderingKey(keyBytes, kafkaTopic, hasPartition ? (partition as number) : undefined), route };
}

function timestampOf(value: unknown): string | null {
  if (typeof value === 'string') return /^\d{1,16}$/.test(value) ? value : null;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return String(value);
  return null;
}

function convertHeaders(input: unknown, at: string, problems: Problem[]): Record<string, EncodedHeaderValue> | undefined {
  if (input === undefined || input === null) return undefined;
  if (!isPlainObject(input)) {
    problems.push({ field: at, message: `must be an object of header values (string, Buffer, or an array of those), got ${describe(input)}` });
    return undefined;
  }
  const entries: Array<[string, EncodedHeaderValue]> = [];
  for (const [name, value] of Object.entries(input)) {
    const field = `${at}.${name}`;
    if (name.toLowerCase().startsWith(RESERVED_HEADER_PREFIX)) {
      problems.push({ field, message: `names starting with "${RESERVED_HEADER_PREFIX}" are reserved for postbox's own headers; rename the header` });
    } else if (Array.isArray(value)) {
      const bad = value.findIndex((v: unknown) => !isBytes(v));
      if (bad >= 0) problems.push({ field: `${field}[${bad}]`, message: `header values must be strings or Buffers, got ${describe(value[bad])}` });
      else entries.push([name, value.map((v: string | Buffer) => encodeBytes(v))]);
    } else if (!isBytes(value)) {
      problems.push({ field, message: `header values must be a string, a Buffer or an array of those, got ${describe(value)}` });
    } else {
      entries.push([name, encodeBytes(value)]);
    }
  }
  // Object.fromEntries keeps a header named __proto__ as an ordinary name.
  return Object.fromEntries(entries);
}

/**
 * The outbox key (per-key order) of a Kafka message: its key as text when the key is UTF-8 text
 * the outbox can store (1 to 1024 bytes, no NUL), else `base64:` and its bytes in base64, else
 * (a key over 765 bytes) `sha256:` and the hex digest. The same key bytes give the same text, so
 * records of one key keep their order whether the key was a string or a Buffer. A keyless
 * message with an explicit partition is ordered with everything keyless sent to that partition
 * (`kafka-partition:<topic>/<n>`); a keyless one without has no order.
 */
export function orderingKey(key: Buffer | null, kafkaTopic: string, partition: number | undefined): string | null {
  if (key === null) return partition === undefined ? null : `kafka-partition:${kafkaTopic}/${partition}`;
  const text = key.toString('utf8');
  if (key.length > 0 && key.length <= MAX_KEY_BYTES && !text.includes('\u0000') && Buffer.from(text, 'utf8').equals(key)) return text;
  const base64 = `base64:${key.toString('base64')}`;
  return base64.length <= MAX_KEY_BYTES ? base64 : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** The bytes kafkajs sends for a string or Buffer (strings as UTF-8). */
function toBytes(value: string | Buffer): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

function isBytes(value: unknown): value is string | Buffer {
  return typeof value === 'string' || Buffer.isBuffer(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function unknownFields(input: Record<string, unknown>, known: readonly string[], at: string, problems: Problem[]): void {
  for (const field of Object.keys(input)) {
    if (!known.includes(field)) {
      problems.push({ field: at === '' ? field : `${at}.${field}`, message: `is not a field postbox can carry to Kafka; remove it (known: ${known.join(', ')})` });
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Buffer.isBuffer(value)) return 'a Buffer';
  if (value instanceof Uint8Array) return 'a Uint8Array (wrap it: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Map) return 'a Map (convert it with Object.fromEntries)';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  return typeof value === 'function' ? 'a function' : 'an object';
}
