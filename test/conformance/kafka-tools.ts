/**
 * Test tools for the Kafka adapter, shared by its integration and conformance tests: unique topic
 * names, an admin that deletes what a test created, a reader that collects records of given
 * topics (one consumer group join per reader), committed offsets, and a client whose sockets can
 * be frozen (replies held back) to provoke timeouts.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Kafka, logLevel, type Admin, type Consumer, type KafkaMessage } from 'kafkajs';
import { KafkaHeader } from '../../adapters/kafka/index.js';
import { Header } from '../../src/message.js';
import { KAFKA_BROKERS } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import type { ReceivedMessage } from './transport-suite.js';

export { KAFKA_BROKERS };

/** A name that is both a legal Kafka topic and a postbox topic. */
export function randomTopic(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export function testClient(clientId = 'postbox-test'): Kafka {
  return new Kafka({ clientId, brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING });
}

export interface TopicAdmin {
  readonly admin: Admin;
  /** Creates fresh topics (3 partitions unless told) and deletes them in cleanup(). */
  create(names: readonly string[], partitions?: number): Promise<void>;
  /** Remembers topics created by code under test (retry and dead-letter topics), to delete them too. */
  track(...names: string[]): void;
  /** The group's committed offset of each partition (-1 when none). */
  committed(groupId: string, topic: string): Promise<Map<number, number>>;
  cleanup(): Promise<void>;
  close(): Promise<void>;
}

export async function createTopicAdmin(): Promise<TopicAdmin> {
  const admin = testClient('postbox-test-admin').admin();
  await admin.connect();
  const created = new Set<string>();
  return {
    admin,
    async create(names, partitions = 3) {
      for (const name of names) created.add(name);
      await admin.createTopics({ topics: names.map((topic) => ({ topic, numPartitions: partitions })), waitForLeaders: true });
    },
    track(...names) {
      for (const name of names) created.add(name);
    },
    async committed(groupId, topic) {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return new Map((offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    },
    async cleanup() {
      const existing = new Set(await admin.listTopics());
      const topics = [...created].filter((t) => existing.has(t));
      created.clear();
      if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
    },
    async close() {
      await admin.disconnect();
    },
  };
}

export type ReadRecord = KafkaMessage & { readonly topic: string; readonly partition: number };

export interface Reader {
  /** Waits for `count` records of `topic` not returned before, in arrival order (per partition: log order). */
  take(topic: string, count: number, timeoutMs?: number): Promise<ReadRecord[]>;
  /** Every record of the topic seen so far (returned or not). */
  seen(topic: string): readonly ReadRecord[];
  stop(): Promise<void>;
}

/** Reads the topics from the beginning with a consumer group of its own (the topics must exist). */
export async function startReader(topics: readonly string[]): Promise<Reader> {
  const consumer: Consumer = testClient('postbox-test-reader').consumer({
    groupId: randomTopic('reader'),
    sessionTimeout: 6_000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
  });
  const all = new Map<string, ReadRecord[]>();
  const taken = new Map<string, number>();
  await consumer.connect();
  await consumer.subscribe({ topics: [...topics], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      all.set(topic, [...(all.get(topic) ?? []), { ...message, topic, partition }]);
    },
  });
  return {
    async take(topic, count, timeoutMs = 15_000) {
      const from = taken.get(topic) ?? 0;
      await waitFor(`${count} record(s) on ${topic}`, () => (all.get(topic)?.length ?? 0) >= from + count, { timeoutMs });
      taken.set(topic, from + count);
      return (all.get(topic) ?? []).slice(from, from + count);
    },
    seen: (topic) => all.get(topic) ?? [],
    stop: () => consumer.disconnect(),
  };
}

/** Every header of a record as a string (the last value of a repeated one). */
export function headersOf(record: KafkaMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) out[name] = last.toString();
  }
  return out;
}

export function received(record: KafkaMessage): ReceivedMessage {
  const headers = headersOf(record);
  return {
    id: headers[Header.MessageId] ?? '',
    topic: headers[Header.Topic] ?? '',
    key: headers[Header.Key] ?? null,
    payload: record.value ?? Buffer.alloc(0),
    contentType: headers[KafkaHeader.ContentType] ?? '',
    headers,
    correlationId: headers[Header.CorrelationId] ?? null,
    replyTo: headers[Header.ReplyTo] ?? null,
  };
}

export interface FreezableClient {
  readonly kafka: Kafka;
  /** Holds back everything the brokers send (requests still go out): calls wait for replies. */
  freeze(): void;
  thaw(): void;
}

/** A kafkajs client whose connections can be frozen, for timeouts the broker cannot be asked to produce. */
export function freezableClient(): FreezableClient {
  const sockets = new Set<net.Socket>();
  let frozen = false;
  const kafka = new Kafka({
    clientId: 'postbox-test-freezable',
    brokers: KAFKA_BROKERS,
    logLevel: logLevel.NOTHING,
    socketFactory: ({ host, port, onConnect }) => {
      const socket = net.connect({ host, port }, onConnect);
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      if (frozen) socket.pause();
      return socket;
    },
  });
  return {
    kafka,
    freeze() {
      frozen = true;
      for (const socket of sockets) socket.pause();
    },
    thaw() {
      frozen = false;
      for (const socket of sockets) socket.resume();
    },
  };
}
