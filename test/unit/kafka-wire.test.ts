import {
  KafkaJSConnectionError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
} from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { classifyKafkaError } from '../../adapters/kafka/classify.js';
import { deadRecord, replayRecord, retryRecord } from '../../adapters/kafka/copies.js';
import { readDelivery } from '../../adapters/kafka/delivery.js';
import { createRouter } from '../../adapters/kafka/routes.js';
import { KafkaHeader, toRecord } from '../../adapters/kafka/wire.js';
import { attemptError } from '../../src/consumer/outcome.js';
import { Header } from '../../src/message.js';
import { makeMessage } from '../conformance/transport-suite.js';

/** kafkajs sets `cause` on its wrapping errors at run time; its type declarations do not take it. */
function withCause<E extends Error>(error: E, cause: Error): E {
  return Object.assign(error, { cause });
}

/** A protocol error as kafkajs makes it from a broker error code. */
function protocolError(type: string, retriable: boolean): KafkaJSProtocolError {
  return new KafkaJSProtocolError({ type, code: 0, retriable, message: `${type} from the broker` } as unknown as Error);
}

describe('kafka wire format', () => {
  it('puts the key, payload, timestamp and every postbox header on the record', () => {
    const createdAt = new Date('2024-05-01T10:00:00.123Z');
    const message = makeMessage('orders.created', {
      key: 'order-1',
      headers: { 'x-tenant': 'acme', [Header.Topic]: 'spoofed' },
      correlationId: 'c-1',
      replyTo: 'replies',
      attempt: 2,
      createdAt,
    });
    const record = toRecord(message);
    expect(record.key).toBe('order-1');
    expect(record.value).toBe(message.payload);
    expect(record.timestamp).toBe(String(createdAt.getTime()));
    expect(record.headers).toEqual({
      'x-tenant': 'acme',
      [Header.MessageId]: message.id,
      [Header.Topic]: 'orders.created',
      [Header.Key]: 'order-1',
      [Header.PublishAttempt]: '2',
      [Header.CreatedAt]: createdAt.toISOString(),
      [Header.CorrelationId]: 'c-1',
      [Header.ReplyTo]: 'replies',
      [KafkaHeader.ContentType]: 'application/json',
    });
    const keyless = toRecord(makeMessage('t', { key: null }));
    expect(keyless.key).toBeNull();
    expect(keyless.headers).not.toHaveProperty(Header.Key);
    expect(keyless.headers).not.toHaveProperty(Header.CorrelationId);
  });

  it('routes a topic by the most specific pattern, else to the Kafka topic of its name when that name is legal', () => {
    const route = createRouter([
      ['orders.#', { topic: 'orders' }],
      ['orders.eu.*', { topic: 'orders-eu' }],
    ]);
    expect(route('orders.eu.created')).toEqual({ ok: true, topic: 'orders-eu' });
    expect(route('orders.created')).toEqual({ ok: true, topic: 'orders' });
    expect(route('audit.login')).toEqual({ ok: true, topic: 'audit.login' });
    const illegal = route('audit.é');
    expect(illegal.ok).toBe(false);
    expect(!illegal.ok && illegal.problem).toMatch(/not a legal Kafka topic name.*Add a route for it/);
  });

  it('reads a delivery from postbox headers, with fallbacks for records of other producers', () => {
    const record = {
      key: Buffer.from('k-1'),
      value: Buffer.from('{"a":1}'),
      timestamp: '1700000000000',
      offset: '42',
      headers: {
        [Header.MessageId]: Buffer.from('id-1'),
        [Header.Topic]: Buffer.from('orders.created'),
        [Header.Attempt]: Buffer.from('3'),
        [Header.CorrelationId]: 'c-9',
        [KafkaHeader.ContentType]: Buffer.from('application/json'),
        [KafkaHeader.DueAt]: Buffer.from('1700000005000'),
        [KafkaHeader.OriginalTopic]: Buffer.from('orders'),
        [KafkaHeader.OriginalPartition]: Buffer.from('2'),
        [KafkaHeader.OriginalOffset]: Buffer.from('7'),
        repeated: [Buffer.from('first'), Buffer.from('last')],
      },
    };
    const delivery = readDelivery(record, { topic: 'orders.retry', partition: 0, offset: '42' });
    expect(delivery.message).toMatchObject({ id: 'id-1', topic: 'orders.created', key: 'k-1', attempt: 3, correlationId: 'c-9', contentType: 'application/json' });
    expect(delivery.message.json()).toEqual({ a: 1 });
    expect(delivery.message.headers.repeated).toBe('last');
    expect(delivery.original).toEqual({ topic: 'orders', partition: 2, offset: '7' });
    expect(delivery.dueAt?.getTime()).toBe(1_700_000_005_000);

    const foreign = readDelivery({ key: null, value: null, timestamp: '0', offset: '5', headers: { [Header.Attempt]: 'x' } }, { topic: 'raw', partition: 1, offset: '5' });
    expect(foreign.message).toMatchObject({ id: 'kafka:raw/1@5', topic: 'raw', key: null, attempt: 1, contentType: 'application/octet-stream', correlationId: null, replyTo: null });
    expect(foreign.message.payload).toHaveLength(0);
    expect(readDelivery(record, { topic: 'x', partition: 0, offset: '1' }, 5).message.attempt).toBe(5);
  });

  it('writes retry and dead-letter copies with the failure state, and replay resets it', () => {
    const record = { key: Buffer.from('k'), value: Buffer.from('v'), timestamp: '1700000000000', offset: '9', headers: { 'x-bin': Buffer.from([0xff, 0x00]) } };
    const delivery = readDelivery(record, { topic: 'orders', partition: 1, offset: '9' });
    const now = new Date('2024-01-01T00:00:00.000Z');
    const history = [attemptError(new Error('boom'), 1, now)];
    const retry = retryRecord(delivery, { kind: 'retry', delayMs: 1_500, error: new Error('boom'), history }, 'billing', now);
    expect(retry).toMatchObject({ key: record.key, value: record.value, timestamp: record.timestamp });
    expect(retry.headers).toMatchObject({
      'x-bin': Buffer.from([0xff, 0x00]),
      [Header.MessageId]: 'kafka:orders/1@9',
      [Header.Topic]: 'orders',
      [Header.Attempt]: '2',
      [Header.Error]: 'Error: boom',
      [Header.FirstFailedAt]: now.toISOString(),
      [KafkaHeader.DueAt]: '2024-01-01T00:00:01.500Z',
      [KafkaHeader.OriginalTopic]: 'orders',
      [KafkaHeader.OriginalPartition]: '1',
      [KafkaHeader.OriginalOffset]: '9',
      [KafkaHeader.ConsumerGroup]: 'billing',
    });
    expect(JSON.parse(retry.headers![Header.ErrorHistory] as string)).toEqual(history);

    const retried = readDelivery({ ...record, offset: '0', headers: retry.headers! }, { topic: 'orders.retry', partition: 0, offset: '0' });
    expect(retried.original).toEqual({ topic: 'orders', partition: 1, offset: '9' });
    const dead = deadRecord(retried, { kind: 'dead', reason: 'max-attempts', error: new Error('boom'), history: [...history, history[0]!] }, 'billing');
    expect(dead.headers).toMatchObject({ [Header.Attempt]: '2', [Header.DeadReason]: 'max-attempts', [KafkaHeader.OriginalOffset]: '9', [Header.MessageId]: 'kafka:orders/1@9' });
    expect(dead.headers).not.toHaveProperty(KafkaHeader.DueAt);

    const replayed = replayRecord({ ...record, headers: dead.headers! });
    expect(replayed.headers).toMatchObject({ [Header.MessageId]: 'kafka:orders/1@9', [Header.Topic]: 'orders', 'x-bin': Buffer.from([0xff, 0x00]) });
    for (const name of [Header.Attempt, Header.DeadReason, Header.Error, Header.FirstFailedAt, KafkaHeader.OriginalTopic, KafkaHeader.ConsumerGroup]) {
      expect(replayed.headers).not.toHaveProperty(name);
    }
    expect(replayed.headers).toHaveProperty(Header.ErrorHistory);
  });

  it('classifies kafkajs errors by their innermost broker error', () => {
    const wrapped = (type: string, retriable: boolean): Error =>
      new KafkaJSNumberOfRetriesExceeded(protocolError(type, retriable), { retryCount: 3, retryTime: 100 });
    expect(classifyKafkaError(wrapped('UNKNOWN_TOPIC_OR_PARTITION', true))).toMatchObject({ kind: 'missing-topic', permanent: false });
    const tooLarge = withCause(new KafkaJSNonRetriableError(protocolError('MESSAGE_TOO_LARGE', false)), protocolError('MESSAGE_TOO_LARGE', false));
    expect(classifyKafkaError(tooLarge)).toMatchObject({ kind: 'record', type: 'MESSAGE_TOO_LARGE', permanent: true });
    expect(classifyKafkaError(wrapped('OUT_OF_ORDER_SEQUENCE_NUMBER', false))).toMatchObject({ kind: 'producer-state', permanent: false });
    expect(classifyKafkaError(wrapped('NOT_ENOUGH_REPLICAS', true))).toMatchObject({ kind: 'rejected', permanent: false });
    expect(classifyKafkaError(new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092'))).toMatchObject({ kind: 'connection' });
    expect(classifyKafkaError(new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out'))).toMatchObject({ kind: 'timeout' });
    const bug = withCause(new KafkaJSNonRetriableError(new TypeError('x')), new TypeError('The "string" argument must be of type string'));
    expect(classifyKafkaError(bug)).toMatchObject({ kind: 'bug', permanent: true });
    expect(classifyKafkaError(wrapped('UNKNOWN_TOPIC_OR_PARTITION', true)).reason).toMatch(/UNKNOWN_TOPIC_OR_PARTITION/);
    expect(classifyKafkaError(new Error('sasl failed for amqp://user:pw@host')).reason).not.toContain('pw@');
  });
});
