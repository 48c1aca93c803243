/**
 * The Kafka Transport: publishes outbox batches with an idempotent producer (acks = all), the
 * message key as record key (one key, one partition, in order), one produce request per Kafka
 * topic, and reports one result per message in batch order within publishTimeoutMs.
 *
 * A message written by the producer facade (facade.ts) carries a route (facade-route.ts): it goes
 * to the route's Kafka topic (`routes` does not apply), as the wrapped producer would have sent
 * it. Messages without one take the path above unchanged (one header lookup; no JSON parsed).
 *
 * See wire.ts for the record format, routes.ts for topic routing, topic-check.ts for how missing
 * topics fail fast (DestinationNotFound, only their own messages), send-group.ts for how a send
 * settles, and producer-session.ts for why a producer is replaced after a failed send.
 */
import { TransportUnavailableError, toError } from '../../src/errors.js';
import { Header, type OutboxMessage } from '../../src/message.js';
import { redactText } from '../../src/redact.js';
import { failed, type Connectable, type PublishChunking, type PublishOptions, type PublishResult, type Transport } from '../../src/transport.js';
import { scatterGroupResults } from '../shared/batch-groups.js';
import { createCallsInFlight } from '../shared/calls-in-flight.js';
import type { KafkaClientLike, KafkaProducerLike, ProducerRecord } from './client.js';
import { boundedRetry, openClient, type ClientSource } from './connection.js';
import { KAFKA_DEFAULTS, resolveTransportOptions, type KafkaTransportOptions } from './options.js';
import { createProducerSession } from './producer-session.js';
import { createRouter } from './routes.js';
import { createLingeringSends, sendGroups, type Group, type GroupContext } from './send-group.js';
import { race, remainingMs } from './timing.js';
import { createTopicVerifier, type AdminFactory } from './topic-check.js';
import { destinationNotFound, illegalTopic, stopped, toRecord, toRoutedRecord } from './wire.js';

export interface KafkaTransport extends Transport, Connectable, PublishChunking {
  readonly name: 'kafka';
}

/** close() waits at most this long (and at most publishTimeoutMs) for sends in flight. */
const CLOSE_GRACE_MS = 5_000;

/**
 * Creates the transport; throws ConfigError listing every problem with the options. Connects
 * lazily (or in connect()). close() disconnects the producers and admin it made, never a
 * producer or admin that was passed in.
 */
export function createKafkaTransport(options: KafkaTransportOptions): KafkaTransport {
  const config = resolveTransportOptions(options);
  const { source, publishTimeoutMs, target } = config;
  let client: Promise<KafkaClientLike> | undefined;
  const getClient = (clientSource: ClientSource): Promise<KafkaClientLike> =>
    (client ??= openClient(clientSource, publishTimeoutMs).catch((error: unknown) => {
      client = undefined;
      throw error;
    }));
  const retry = boundedRetry(publishTimeoutMs);
  const producerConfig = { idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: config.allowAutoTopicCreation, retry };
  const session = createProducerSession(
    source.kind === 'producer'
      ? { kind: 'shared', producer: source.producer }
      : { kind: 'owned', create: async () => (await getClient(source)).producer(producerConfig) },
  );
  const admins: AdminFactory = config.allowAutoTopicCreation
    ? { kind: 'none' }
    : source.kind === 'producer'
      ? source.admin === undefined
        ? { kind: 'none' }
        : { kind: 'shared', admin: source.admin }
      : { kind: 'owned', create: async () => (await getClient(source)).admin({ retry }) };
  const verifier = createTopicVerifier(admins);
  const route = createRouter(config.routes);
  const ctx: GroupContext = { session, verifier, lingering: createLingeringSends(), target, publishTimeoutMs };
  const stopping = new AbortController();
  let closing: Promise<void> | undefined;
  const calls = createCallsInFlight();

  const unavailable = (what: string, cause?: unknown): TransportUnavailableError =>
    new TransportUnavailableError(
      `${what} (${target})${cause === undefined ? '' : `: ${redactText(toError(cause).message)}`}; nothing was published`,
      cause === undefined ? undefined : { cause },
    );

  async function prepare(topics: string[]): Promise<{ producer: KafkaProducerLike; missing: Set<string> }> {
    const acquire = (): Promise<KafkaProducerLike> =>
      session.acquire().catch((error: unknown) => {
        throw unavailable('could not connect a Kafka producer', error);
      });
    const [producer, missing] = await Promise.all([
      acquire(),
      verifier.missing(topics).catch((error: unknown) => {
        throw unavailable('could not ask Kafka which topics exist', error);
      }),
    ]);
    // A topic this producer sent to was deleted since: kafkajs would fail every send of it (kafkajs #1622).
    const stale = [...session.usedTopics(producer)].some(([topic, at]) => verifier.goneSince(topic, at));
    if (!stale || !session.replaceable) return { producer, missing };
    session.retire(producer);
    return { producer: await acquire(), missing };
  }

  async function publish(batch: readonly OutboxMessage[], { signal }: PublishOptions): Promise<PublishResult[]> {
    if (closing !== undefined) throw unavailable('the kafka transport was closed; create a new transport to publish again');
    if (batch.length === 0) return [];
    if (signal.aborted) return batch.map((m) => failed(stopped(m)));
    const deadline = Date.now() + publishTimeoutMs;
    const combined = AbortSignal.any([signal, stopping.signal]);
    calls.begin();
    try {
      const results: Array<PublishResult | undefined> = new Array<PublishResult | undefined>(batch.length);
      const groups = new Map<string, { indexes: number[]; messages: OutboxMessage[]; records: ProducerRecord[] }>();
      batch.forEach((message, i) => {
        let topic: string;
        let record: ProducerRecord;
        if (message.headers[Header.Route] === undefined) {
          const destination = route(message.topic);
          if (!destination.ok) {
            results[i] = failed(illegalTopic(message, destination.problem));
            return;
          }
          topic = destination.topic;
          record = toRecord(message);
        } else {
          // Written by the producer facade: sent as the wrapped producer would have (facade-route.ts).
          const routed = toRoutedRecord(message);
          if (!routed.ok) {
            results[i] = failed(routed.error);
            return;
          }
          ({ topic, record } = routed);
        }
        let group = groups.get(topic);
        if (group === undefined) groups.set(topic, (group = { indexes: [], messages: [], records: [] }));
        group.indexes.push(i);
        group.messages.push(message);
        group.records.push(record);
      });
      if (groups.size === 0) return results as PublishResult[];

      // Connecting and checking topics talk to the brokers: bounded, so a dead cluster cannot hang publish().
      const prepared = await race(prepare([...groups.keys()]), remainingMs(deadline), combined);
      if (prepared.kind === 'aborted') return batch.map((m, i) => results[i] ?? failed(stopped(m)));
      if (prepared.kind === 'timeout') throw unavailable(`Kafka did not answer within ${publishTimeoutMs} ms (publishTimeoutMs) while connecting`);
      const { missing } = prepared.value;
      const sending: Array<Group & { indexes: number[] }> = [];
      for (const [topic, group] of groups) {
        if (!missing.has(topic)) sending.push({ topic, ...group });
        else group.messages.forEach((m, j) => (results[group.indexes[j]!] = failed(destinationNotFound(m, topic, target))));
      }
      const settled = sending.length === 0 ? [] : await sendGroups(ctx, sending, deadline, combined);
      scatterGroupResults(results, sending, settled);
      return results as PublishResult[];
    } finally {
      calls.end();
    }
  }

  return {
    name: 'kafka',
    preferredChunkSize: KAFKA_DEFAULTS.preferredChunkSize,
    publish,
    async connect() {
      if (closing !== undefined) throw unavailable('the kafka transport was closed; create a new transport to publish again');
      const connected = await race(session.acquire(), publishTimeoutMs).catch((error: unknown) => {
        throw unavailable('could not connect a Kafka producer', error);
      });
      if (connected.kind !== 'value') throw unavailable(`Kafka did not answer within ${publishTimeoutMs} ms (publishTimeoutMs) while connecting`);
    },
    close() {
      closing ??= (async () => {
        const grace = Math.min(CLOSE_GRACE_MS, publishTimeoutMs);
        await calls.idle(grace);
        stopping.abort(); // what is still waiting fails with ErrorCode.Stopped
        await session.close(grace);
        await verifier.close();
      })();
      return closing;
    },
  };
}
