/**
 * The route of a message written by the kafkajs producer facade (facade.ts): what the wrapped
 * producer would have sent, stored as JSON in the reserved `postbox-route` header (see
 * src/facade/route.ts) and turned back into the same record by the transport.
 *
 * The record's value is the message payload (the value's bytes); the route holds the rest:
 *
 *   { transport: 'kafka', topic, key, headers?, partition?, timestamp?, tombstone? }
 *
 * - topic: the Kafka topic, used as-is (the transport's `routes` option does not apply).
 * - key: null, a string, or { base64 } for a Buffer: exactly the bytes kafkajs would have sent.
 * - headers: the record's headers in their order, each value a string, { base64 } or an array of
 *   those (kafkajs sends one header per array element).
 * - partition: the explicit partition, sent as-is (partitioners use it before any hash).
 * - timestamp: the record timestamp (milliseconds, as kafkajs takes it); absent: the time the
 *   message was written to the outbox.
 * - tombstone: the value was null (a delete marker of a compacted topic); the payload is empty.
 */
import { NonRetryableError } from '../../src/errors.js';
import { encodeRoute, routeOf, wireHeaders, type Route } from '../../src/facade/route.js';
import { Header, type OutboxMessage } from '../../src/message.js';
import type { ProducerRecord, ProducerHeaders } from './client.js';
import { kafkaTopicProblem } from './validation.js';

export const KAFKA_TRANSPORT = 'kafka';

/** Bytes in JSON: strings as they are (kafkajs sends their UTF-8), Buffers as base64. */
export type EncodedBytes = string | { readonly base64: string };
export type EncodedHeaderValue = EncodedBytes | readonly EncodedBytes[];

/** What the facade records of one kafkajs message, besides its value. */
export interface KafkaRouteFields {
  readonly topic: string;
  readonly key: EncodedBytes | null;
  readonly headers?: Readonly<Record<string, EncodedHeaderValue>>;
  readonly partition?: number;
  readonly timestamp?: string;
  readonly tombstone?: true;
}

export interface KafkaFacadeRoute extends Route, KafkaRouteFields {
  readonly transport: typeof KAFKA_TRANSPORT;
}

export function encodeBytes(value: string | Buffer): EncodedBytes {
  return typeof value === 'string' ? value : { base64: value.toString('base64') };
}

export function encodeKafkaRoute(route: KafkaRouteFields): string {
  return encodeRoute({ transport: KAFKA_TRANSPORT, ...route });
}

/** A routed message's Kafka topic and record, or the permanent error that dead-letters it. */
export type RoutedRecord =
  | { readonly ok: true; readonly topic: string; readonly record: ProducerRecord }
  | { readonly ok: false; readonly error: Error };

/**
 * The record a facade message is sent as: the route's key, headers, partition and timestamp, the
 * payload as value (null for a tombstone), plus postbox's identity headers (`identity`, see
 * wire.ts) and the envelope's trace context headers (unless the caller set headers of those
 * names). Fails permanently for a route of another transport or one that is malformed.
 */
export function routedRecord(message: OutboxMessage, identity: (message: OutboxMessage) => Record<string, string>): RoutedRecord {
  let route: KafkaFacadeRoute | undefined;
  try {
    route = routeOf<KafkaFacadeRoute>(message, KAFKA_TRANSPORT);
  } catch (error) {
    return { ok: false, error: error as Error };
  }
  const problem = route === undefined ? 'there is none' : routeProblem(route);
  const headers = route === undefined || problem !== undefined ? undefined : route.headers === undefined ? {} : decodeHeaders(route.headers);
  if (route === undefined || headers === undefined) {
    return {
      ok: false,
      error: new NonRetryableError(`message ${message.id}: its ${Header.Route} header is not a valid Kafka facade route (${problem ?? 'a header value is malformed'}); it cannot be sent as written`),
    };
  }
  return {
    ok: true,
    topic: route.topic,
    record: {
      key: route.key === null ? null : decodeBytes(route.key),
      value: route.tombstone === true ? null : message.payload,
      // The envelope's own headers (the trace context enqueue stored, which the relay's send span
      // replaced) under the caller's: a header the caller set wins; the identity headers win over both.
      headers: { ...wireHeaders(message.headers), ...headers, ...identity(message) },
      ...(route.partition === undefined ? {} : { partition: route.partition }),
      ...(route.timestamp !== undefined ? { timestamp: route.timestamp } : createdAtTimestamp(message)),
    },
  };
}

function createdAtTimestamp(message: OutboxMessage): { timestamp?: string } {
  const created = message.createdAt.getTime();
  return Number.isFinite(created) ? { timestamp: String(created) } : {};
}

/** What is wrong with a parsed route, for the error; cheap checks of what the facade wrote. */
function routeProblem(route: KafkaFacadeRoute): string | undefined {
  const topicProblem = kafkaTopicProblem(route.topic);
  if (topicProblem !== undefined) return `topic ${topicProblem}`;
  if (route.key !== null && !isEncodedBytes(route.key)) return 'key is not null, a string or { base64 }';
  if (route.headers !== undefined && (typeof route.headers !== 'object' || route.headers === null || Array.isArray(route.headers))) return 'headers is not an object';
  if (route.partition !== undefined && !(Number.isSafeInteger(route.partition) && route.partition >= 0)) return 'partition is not a whole number >= 0';
  if (route.timestamp !== undefined && (typeof route.timestamp !== 'string' || !/^\d+$/.test(route.timestamp))) return 'timestamp is not a string of digits';
  return undefined;
}

function isEncodedBytes(value: unknown): value is EncodedBytes {
  return typeof value === 'string' || (typeof value === 'object' && value !== null && typeof (value as { base64?: unknown }).base64 === 'string');
}

function decodeBytes(value: EncodedBytes): string | Buffer {
  return typeof value === 'string' ? value : Buffer.from(value.base64, 'base64');
}

/**
 * The headers as kafkajs takes them, or undefined when a value is malformed. Object.fromEntries
 * defines each name as an own property (a header named __proto__ included).
 */
function decodeHeaders(headers: Readonly<Record<string, EncodedHeaderValue>>): ProducerHeaders | undefined {
  const entries: Array<[string, ProducerHeaders[string]]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) {
      if (!value.every(isEncodedBytes)) return undefined;
      entries.push([name, (value as readonly EncodedBytes[]).map(decodeBytes)]);
    } else if (isEncodedBytes(value)) {
      entries.push([name, decodeBytes(value)]);
    } else {
      return undefined;
    }
  }
  return Object.fromEntries(entries);
}
