/**
 * Options of the RabbitMQ connection and transport: types, defaults (one constant) and
 * validation that reports every problem at once in one ConfigError.
 *
 * Routing: `routes` maps topic patterns (AMQP topic-exchange syntax, the most specific pattern
 * wins) to an exchange and a routing key (the topic by default). A topic that no route matches is
 * published to the default exchange ('') with the topic as the routing key, so the topic names a
 * queue: replies to a replyTo queue and sendToQueue-style messages need no route. A topic without
 * a route and without a queue of that name is returned by the broker and fails as unroutable.
 */
import { ConfigError } from '../../src/errors.js';
import { checkReconnect, type ReconnectOptions } from '../shared/reconnect.js';
import { checkRouteTable } from '../shared/route-table.js';
import type { RabbitMQConnection } from './connection.js';
import { checkTopology, type Topology, type TopologyInput } from './topology.js';
import { checkUrl, describeUrl, urlHasHeartbeat, type RabbitMQUrl } from './url.js';
import {
  checkKnownFields,
  checkName,
  checkOptional,
  isNonNegativeInteger,
  isPositiveInteger,
  isRecord,
  show,
  type Problems,
} from './validation.js';

export type { ReconnectOptions } from '../shared/reconnect.js';

export interface RabbitMQConnectionOptions {
  /** amqp://user:password@host:5672/vhost, amqps://..., or an amqplib connect object. Never logged unredacted. */
  readonly url: RabbitMQUrl;
  /** Exchanges, queues and bindings declared on every (re)connect. */
  readonly topology?: TopologyInput;
  /** AMQP heartbeat; 0 disables it. Default: the broker's suggestion (60 s on RabbitMQ). */
  readonly heartbeatSeconds?: number;
  readonly reconnect?: ReconnectOptions;
  /** Bound on one connection attempt (TCP and AMQP handshake). Default 10 000. */
  readonly connectTimeoutMs?: number;
  /** Shown by the broker (management UI, rabbitmqctl list_connections). Default 'postbox'. */
  readonly connectionName?: string;
}

/** Where a topic goes: an exchange, and a routing key (default: the topic). */
export interface Route {
  readonly exchange: string;
  readonly routingKey?: string;
}

interface TransportOwnOptions {
  /** Topic pattern -> destination. Unmatched topics go to the default exchange, topic as routing key. */
  readonly routes?: Readonly<Record<string, Route>>;
  /** A batch's messages not confirmed this long after the batch started sending fail. Default 10 000. */
  readonly publishTimeoutMs?: number;
}

/** The transport opens (and closes) its own connection. */
export interface RabbitMQTransportOptions extends RabbitMQConnectionOptions, TransportOwnOptions {}

/** The transport shares a connection it does not own (close() leaves it open). */
export interface RabbitMQSharedConnectionTransportOptions extends TransportOwnOptions {
  readonly connection: RabbitMQConnection;
}

export const RABBITMQ_DEFAULTS = Object.freeze({
  publishTimeoutMs: 10_000,
  reconnect: Object.freeze({ initialMs: 100, maxMs: 10_000 }),
  connectTimeoutMs: 10_000,
  connectionName: 'postbox',
});

export interface ResolvedConnectionOptions {
  readonly url: RabbitMQUrl;
  /** The url with its secrets redacted. */
  readonly target: string;
  readonly topology: Topology;
  readonly heartbeatSeconds: number | undefined;
  readonly reconnect: Required<ReconnectOptions>;
  readonly connectTimeoutMs: number;
  readonly connectionName: string;
}

/** A route with its routing key resolved: undefined means "the topic". */
export interface ResolvedRoute {
  readonly exchange: string;
  readonly routingKey: string | undefined;
}

export interface ResolvedTransportOptions {
  /** Set when the transport owns its connection. */
  readonly connectionOptions: ResolvedConnectionOptions | undefined;
  readonly connection: RabbitMQConnection | undefined;
  readonly routes: ReadonlyArray<readonly [pattern: string, route: ResolvedRoute]>;
  readonly publishTimeoutMs: number;
}

const CONNECTION_FIELDS = ['url', 'topology', 'heartbeatSeconds', 'reconnect', 'connectTimeoutMs', 'connectionName'];
const TRANSPORT_FIELDS = ['routes', 'publishTimeoutMs'];

export function resolveConnectionOptions(input: unknown): ResolvedConnectionOptions {
  const problems: Problems = [];
  if (!isRecord(input)) {
    throw new ConfigError('rabbitmq connection options', [
      { field: 'options', message: `must be an object with at least a url, got ${show(input)}` },
    ]);
  }
  checkKnownFields(input, CONNECTION_FIELDS, '', problems);
  const resolved = checkConnectionFields(input, problems);
  if (problems.length > 0) throw new ConfigError('rabbitmq connection options', problems);
  return resolved;
}

export function resolveTransportOptions(input: unknown): ResolvedTransportOptions {
  const problems: Problems = [];
  if (!isRecord(input)) {
    throw new ConfigError('rabbitmq transport options', [
      { field: 'options', message: `must be an object with a url or a connection, got ${show(input)}` },
    ]);
  }
  const shared = input.connection !== undefined;
  let connectionOptions: ResolvedConnectionOptions | undefined;
  if (shared) {
    checkKnownFields(input, ['connection', ...TRANSPORT_FIELDS], '', problems);
    if (!isConnection(input.connection)) {
      problems.push({ field: 'connection', message: 'must be a connection made by createRabbitMQConnection()' });
    }
  } else {
    checkKnownFields(input, [...CONNECTION_FIELDS, ...TRANSPORT_FIELDS], '', problems);
    connectionOptions = checkConnectionFields(input, problems);
  }
  const routes = checkRoutes(input.routes, problems);
  checkOptional(input.publishTimeoutMs, isPositiveInteger, 'must be a whole number of milliseconds > 0', 'publishTimeoutMs', problems);
  if (problems.length > 0) throw new ConfigError('rabbitmq transport options', problems);
  return Object.freeze({
    connectionOptions,
    connection: shared ? (input.connection as RabbitMQConnection) : undefined,
    routes,
    publishTimeoutMs: (input.publishTimeoutMs as number | undefined) ?? RABBITMQ_DEFAULTS.publishTimeoutMs,
  });
}

export function isConnection(value: unknown): value is RabbitMQConnection {
  return (
    isRecord(value) &&
    typeof value.connect === 'function' &&
    typeof value.createChannel === 'function' &&
    typeof value.createConfirmChannel === 'function'
  );
}

function checkConnectionFields(input: Record<string, unknown>, problems: Problems): ResolvedConnectionOptions {
  if (input.url === undefined) {
    problems.push({ field: 'url', message: 'is required: the broker URL, e.g. amqp://user:password@host:5672/vhost' });
  } else {
    checkUrl(input.url, 'url', problems);
  }
  const topology = checkTopology(input.topology, 'topology', problems);
  const heartbeatOk = checkOptional(input.heartbeatSeconds, isNonNegativeInteger, 'must be a whole number of seconds >= 0 (0 disables heartbeats)', 'heartbeatSeconds', problems);
  if (heartbeatOk && input.heartbeatSeconds !== undefined && (typeof input.url === 'string' || isRecord(input.url))) {
    if (urlHasHeartbeat(input.url as RabbitMQUrl)) {
      problems.push({ field: 'heartbeatSeconds', message: 'is also set in url; set the heartbeat in one place' });
    }
  }
  const reconnect = checkReconnect(input.reconnect, RABBITMQ_DEFAULTS.reconnect, problems);
  checkOptional(input.connectTimeoutMs, isPositiveInteger, 'must be a whole number of milliseconds > 0', 'connectTimeoutMs', problems);
  checkOptional(input.connectionName, (v) => typeof v === 'string', 'must be a string', 'connectionName', problems);
  const url = input.url as RabbitMQUrl;
  return Object.freeze({
    url,
    target: typeof url === 'string' || isRecord(url) ? describeUrl(url) : 'an invalid url',
    topology,
    heartbeatSeconds: input.heartbeatSeconds as number | undefined,
    reconnect,
    connectTimeoutMs: (input.connectTimeoutMs as number | undefined) ?? RABBITMQ_DEFAULTS.connectTimeoutMs,
    connectionName: (input.connectionName as string | undefined) ?? RABBITMQ_DEFAULTS.connectionName,
  });
}

function checkRoutes(input: unknown, problems: Problems): ResolvedTransportOptions['routes'] {
  return checkRouteTable<ResolvedRoute>(input, problems, {
    example: '{ "orders.#": { exchange: "orders" } }',
    shape: '{ exchange, routingKey? }',
    check(route, path) {
      checkKnownFields(route, ['exchange', 'routingKey'], path, problems);
      const exchangeOk = checkName(route.exchange, 'exchange', `${path}.exchange`, problems, true);
      const keyOk = route.routingKey === undefined || checkName(route.routingKey, 'routing key', `${path}.routingKey`, problems, true);
      return exchangeOk && keyOk ? Object.freeze({ exchange: String(route.exchange), routingKey: route.routingKey as string | undefined }) : undefined;
    },
  });
}

