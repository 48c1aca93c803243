import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  createKafkaConsumer,
  createKafkaTransport,
  replayKafkaDeadLetters,
  type KafkaClientLike,
  type KafkaConsumerOptions,
  type KafkaTransportOptions,
} from '../../adapters/kafka/index.js';
import { boundedRetry } from '../../adapters/kafka/connection.js';
import { resolveTransportOptions } from '../../adapters/kafka/options.js';
import { ConfigError } from '../../src/errors.js';

function problemsOf(run: () => unknown): Array<{ field: string; message: string }> {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

/** A kafkajs client that never connects (nothing here does I/O). */
const kafka = new Kafka({ clientId: 'unit', brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING });
const handler = async (): Promise<void> => undefined;

describe('kafka options', () => {
  it('reports every problem of the transport options at once, naming each field and never a credential', () => {
    const problems = problemsOf(() =>
      createKafkaTransport({
        brokers: ['localhost', 'kafka://broker:9092', 'alice:s3cret-pass@broker:9092', 'broker:70000'],
        sasl: { mechanism: 'plain', username: 'alice', password: 7 as unknown as string },
        routes: { 'orders..created': { topic: 'orders' }, 'audit.#': { topic: 'audit log' }, 'pay.*': 'payments' as never },
        allowAutoTopicCreation: 'yes' as unknown as boolean,
        publishTimeoutMs: 0,
        colour: 'blue',
      } as KafkaTransportOptions),
    );
    expect(problems.map((p) => p.field)).toEqual([
      'colour',
      'brokers[0]',
      'brokers[1]',
      'brokers[2]',
      'brokers[3]',
      'sasl.password',
      'routes["orders..created"]',
      'routes["audit.#"].topic',
      'routes["pay.*"]',
      'allowAutoTopicCreation',
      'publishTimeoutMs',
    ]);
    expect(JSON.stringify(problems)).not.toContain('s3cret-pass');
    expect(problems.find((p) => p.field === 'brokers[1]')!.message).toMatch(/leave out the scheme/);
    expect(problems.find((p) => p.field === 'routes["audit.#"].topic')!.message).toMatch(/\[a-zA-Z0-9._-\]|letters, digits/);
  });

  it('takes exactly one of brokers, kafka and producer, and broker settings only with brokers', () => {
    expect(problemsOf(() => createKafkaTransport({} as KafkaTransportOptions)).map((p) => p.field)).toEqual(['brokers']);
    const both = problemsOf(() => createKafkaTransport({ brokers: ['127.0.0.1:9092'], kafka }));
    expect(both).toEqual([{ field: 'kafka', message: expect.stringMatching(/set only one of brokers, kafka, producer/) }]);
    const misplaced = problemsOf(() => createKafkaTransport({ kafka, clientId: 'x', ssl: true }));
    expect(misplaced.map((p) => p.field)).toEqual(['clientId', 'ssl']);
    const adminAlone = problemsOf(() => createKafkaTransport({ kafka, admin: kafka.admin() }));
    expect(adminAlone.map((p) => p.field)).toEqual(['admin']);
  });

  it('accepts a kafkajs client, and an idempotent kafkajs producer with an admin, but rejects a producer that is not idempotent', () => {
    const client: KafkaClientLike = kafka; // kafkajs's Kafka fits the structural client type
    expect(resolveTransportOptions({ kafka: client }).source.kind).toBe('client');
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    expect(resolveTransportOptions({ producer, admin: kafka.admin() }).source.kind).toBe('producer');
    const plain = problemsOf(() => createKafkaTransport({ producer: kafka.producer() }));
    expect(plain).toEqual([{ field: 'producer', message: expect.stringMatching(/must be idempotent.*idempotent: true/) }]);
    expect(resolveTransportOptions({ brokers: ['[::1]:9092', 'kafka-0.kafka.svc:9093'] }).target).toBe('Kafka at [::1]:9092,kafka-0.kafka.svc:9093');
  });

  it('reports every problem of the consumer options at once', () => {
    const problems = problemsOf(() =>
      createKafkaConsumer({
        brokers: ['127.0.0.1:9092'],
        topics: ['orders', 'orders.retry', 'bad topic', 'orders'],
        handler: 'nope' as never,
        middleware: [5 as never],
        modes: { 'orders.#': 'later' as never, 'a..b': 'blocking' },
        policies: { default: { maxAttempts: 0 } },
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 6_000,
        partitionsConsumedConcurrently: 0,
      } as unknown as KafkaConsumerOptions),
    );
    expect(problems.map((p) => p.field)).toEqual([
      'groupId',
      'topics[2]',
      'topics[3]',
      'topics[1]',
      'handler',
      'middleware[0]',
      'policies.default.maxAttempts',
      'modes["orders.#"]',
      'modes["a..b"]',
      'partitionsConsumedConcurrently',
      'heartbeatIntervalMs',
    ]);
    expect(problems.find((p) => p.field === 'topics[1]')!.message).toMatch(/retry or dead-letter topic of "orders"/);
  });

  it('rejects replay options with every problem, before connecting', async () => {
    const rejected = await replayKafkaDeadLetters({ kafka, topic: 'a b', limit: -1, timeoutMs: 1.5 } as never).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(ConfigError);
    expect((rejected as ConfigError).problems.map((p) => p.field)).toEqual(['topic', 'limit', 'timeoutMs']);
    const long = await replayKafkaDeadLetters({ kafka, topic: 'x'.repeat(245) }).catch((e: unknown) => e);
    expect((long as ConfigError).problems.map((p) => p.field)).toEqual(['deadLetterTopic']);
  });

  it('bounds kafkajs retries to about half of the time budget', () => {
    for (const budget of [500, 1_000, 3_000, 10_000, 60_000]) {
      const { retries = 0, initialRetryTime = 0, maxRetryTime = 0 } = boundedRetry(budget);
      let total = 0;
      for (let i = 0, delay = initialRetryTime; i < retries; i++, delay = Math.min(maxRetryTime, delay * 2)) total += delay;
      expect(retries).toBeGreaterThanOrEqual(1);
      expect(total).toBeLessThanOrEqual(Math.max(initialRetryTime, budget / 2));
    }
  });

  it('never echoes a misplaced ssl string, which may be key material', () => {
    const key = '-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC';
    const problems = problemsOf(() => createKafkaTransport({ brokers: ['127.0.0.1:9092'], ssl: key as never }));
    expect(problems.map((p) => p.field)).toEqual(['ssl']);
    expect(JSON.stringify(problems)).not.toContain('MIIE');
  });
});
