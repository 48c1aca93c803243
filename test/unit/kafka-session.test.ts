import { KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } from 'kafkajs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { KafkaConsumerLike, KafkaProducerLike, ProduceRequest, RecordMetadataLike } from '../../adapters/kafka/client.js';
import { createPartitionGate } from '../../adapters/kafka/partition-gate.js';
import { createProducerSession, type Turn } from '../../adapters/kafka/producer-session.js';
import { createLingeringSends, sendGroups, type Group, type GroupContext } from '../../adapters/kafka/send-group.js';
import type { TopicVerifier } from '../../adapters/kafka/topic-check.js';
import { ErrorCode, errorCode, isNonRetryableError } from '../../src/errors.js';
import type { PublishResult } from '../../src/transport.js';
import { makeMessage } from '../conformance/transport-suite.js';

type Send = (request: ProduceRequest) => Promise<RecordMetadataLike[]>;

interface FakeProducer extends KafkaProducerLike {
  readonly sendBatch: ReturnType<typeof vi.fn<Send>>;
  readonly disconnect: ReturnType<typeof vi.fn<() => Promise<void>>>;
  readonly connect: ReturnType<typeof vi.fn<() => Promise<void>>>;
}

function fakeProducer(send: Send): FakeProducer {
  return { connect: vi.fn(async () => undefined), disconnect: vi.fn(async () => undefined), sendBatch: vi.fn(send) };
}

const ok: Send = async (request) => request.topicMessages.map(({ topic }) => ({ topicName: topic, partition: 0, errorCode: 0 }));

/** kafkajs sets `cause` on its wrapping errors at run time; its type declarations do not take it. */
function withCause<E extends Error>(error: E, cause: Error): E {
  return Object.assign(error, { cause });
}

function protocolError(type: string, retriable: boolean): KafkaJSProtocolError {
  return new KafkaJSProtocolError({ type, code: 0, retriable, message: type } as unknown as Error);
}

const verifier = (exists: (topic: string) => boolean = () => true): TopicVerifier => ({
  missing: async (topics) => new Set(topics.filter((t) => !exists(t))),
  forget: () => undefined,
  goneSince: () => false,
  close: async () => undefined,
});

function context(create: () => KafkaProducerLike, exists = true): GroupContext {
  const session = createProducerSession({ kind: 'owned', create: async () => create() });
  return { session, verifier: verifier(() => exists), lingering: createLingeringSends(), target: 'Kafka at test:9092', publishTimeoutMs: 1_000 };
}

async function sendOne(ctx: GroupContext, group: Group, deadline: number, signal: AbortSignal): Promise<PublishResult[]> {
  return (await sendGroups(ctx, [group], deadline, signal))[0]!;
}

const codes = (results: readonly PublishResult[]): Array<string | undefined> => results.map((r) => (r.ok ? 'ok' : errorCode(r.error)));
const live = (): AbortSignal => new AbortController().signal;
const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('kafka producer session and sends', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('connects once for concurrent callers, gives turns one at a time, and replaces a retired producer once its turn is over', async () => {
    const made: FakeProducer[] = [];
    const session = createProducerSession({ kind: 'owned', create: async () => made[made.push(fakeProducer(ok)) - 1]! });
    const [a, b] = await Promise.all([session.acquire(), session.acquire()]);
    expect(a).toBe(b);
    expect(made).toHaveLength(1);
    const first = await session.turn();
    let second: Turn | undefined;
    const waiting = session.turn().then((t) => (second = t));
    await flush();
    expect(second).toBeUndefined(); // one send at a time
    session.retire(first.producer);
    await flush();
    expect(made[0]!.disconnect).not.toHaveBeenCalled(); // its turn is not over
    first.release();
    await waiting;
    expect(second!.producer).toBe(made[1]);
    await vi.waitFor(() => expect(made[0]!.disconnect).toHaveBeenCalledTimes(1));
    second!.release();
    await session.close(100);
    expect(made[1]!.disconnect).toHaveBeenCalledTimes(1);
  });

  it('never replaces or disconnects a producer it was given, but still gives its turns one at a time', async () => {
    const given = fakeProducer(ok);
    const session = createProducerSession({ kind: 'shared', producer: given });
    const first = await session.turn();
    session.retire(first.producer);
    let second: Turn | undefined;
    const waiting = session.turn().then((t) => (second = t));
    await flush();
    expect(second).toBeUndefined();
    first.release();
    await waiting;
    expect(second!.producer).toBe(given);
    second!.release();
    await session.close(100);
    expect(given.disconnect).not.toHaveBeenCalled();
    expect(session.replaceable).toBe(false);
  });

  it('never lets two sends overlap on one producer (kafkajs retries reuse sequence numbers)', async () => {
    let running = 0;
    let most = 0;
    const slow: Send = async (request) => {
      most = Math.max(most, ++running);
      await flush();
      running -= 1;
      return ok(request);
    };
    const ctx = context(() => fakeProducer(slow));
    const calls = Array.from({ length: 5 }, () => sendGroups(ctx, [{ topic: 't', messages: [makeMessage('t')] }], Date.now() + 1_000, live()));
    expect((await Promise.all(calls)).flat(2).every((r) => r.ok)).toBe(true);
    expect(most).toBe(1);
  });

  it('sends the groups of several topics in one request, and after a failure each topic alone', async () => {
    const made: FakeProducer[] = [];
    const goneTopic: Send = async (request) => {
      if (request.topicMessages.some((t) => t.topic === 'gone')) {
        throw new KafkaJSNumberOfRetriesExceeded(protocolError('UNKNOWN_TOPIC_OR_PARTITION', true), { retryCount: 1, retryTime: 1 });
      }
      return ok(request);
    };
    const ctx = { ...context(() => made[made.push(fakeProducer(goneTopic)) - 1]!), verifier: verifier((topic) => topic !== 'gone') };
    const ok1 = await sendGroups(ctx, [{ topic: 'a', messages: [makeMessage('a')] }, { topic: 'b', messages: [makeMessage('b')] }], Date.now() + 1_000, live());
    expect(ok1.map(codes)).toEqual([['ok'], ['ok']]);
    expect(made[0]!.sendBatch).toHaveBeenCalledTimes(1);
    const groups: Group[] = [{ topic: 'a', messages: [makeMessage('a')] }, { topic: 'gone', messages: [makeMessage('gone'), makeMessage('gone')] }];
    expect((await sendGroups(ctx, groups, Date.now() + 1_000, live())).map(codes)).toEqual([['ok'], [ErrorCode.DestinationNotFound, ErrorCode.DestinationNotFound]]);
  });

  it('sends a group rejected for one record again one by one, so only that record fails permanently', async () => {
    const tooLarge: Send = async (request) => {
      const records = request.topicMessages.flatMap((t) => t.messages);
      if (records.some((r) => String(r.value).length > 10)) {
        throw withCause(new KafkaJSNonRetriableError(protocolError('MESSAGE_TOO_LARGE', false)), protocolError('MESSAGE_TOO_LARGE', false));
      }
      return ok(request);
    };
    const made: FakeProducer[] = [];
    const ctx = context(() => made[made.push(fakeProducer(tooLarge)) - 1]!);
    const messages = [makeMessage('t', { payload: Buffer.from('small') }), makeMessage('t', { payload: Buffer.from('x'.repeat(50)) }), makeMessage('t', { payload: Buffer.from('ok') })];
    const results = await sendOne(ctx, { topic: 't', messages }, Date.now() + 1_000, live());
    expect(codes(results)).toEqual(['ok', ErrorCode.NonRetryable, 'ok']);
    expect(results[1]!.ok === false && isNonRetryableError(results[1]!.error)).toBe(true);
    expect(results[1]!.ok === false && results[1]!.error.message).toMatch(/max\.message\.bytes/);
    expect(made.length).toBeGreaterThanOrEqual(2); // the first producer was retired after the failed request
  });

  it('sends again on a fresh producer when a missing-topic error comes from stale producer metadata', async () => {
    const unknown: Send = async () => {
      throw new KafkaJSNumberOfRetriesExceeded(protocolError('UNKNOWN_TOPIC_OR_PARTITION', true), { retryCount: 1, retryTime: 1 });
    };
    const behaviours = [unknown, ok];
    const ctx = context(() => fakeProducer(behaviours.shift() ?? ok), true);
    const results = await sendOne(ctx, { topic: 't', messages: [makeMessage('t')] }, Date.now() + 1_000, live());
    expect(codes(results)).toEqual(['ok']);

    const gone = context(() => fakeProducer(unknown), false);
    const missing = await sendOne(gone, { topic: 't', messages: [makeMessage('t')] }, Date.now() + 1_000, live());
    expect(codes(missing)).toEqual([ErrorCode.DestinationNotFound]);
  });

  it('fails a send that outlives its deadline, and lets no later send to that topic overtake it', async () => {
    let release!: () => void;
    const first: Send = (request) => new Promise((resolve) => (release = () => void ok(request).then(resolve)));
    const behaviours = [first, ok];
    const made: FakeProducer[] = [];
    const ctx = context(() => made[made.push(fakeProducer(behaviours.shift() ?? ok)) - 1]!);
    const timedOut = await sendOne(ctx, { topic: 't', messages: [makeMessage('t')] }, Date.now() + 50, live());
    expect(codes(timedOut)).toEqual([ErrorCode.PublishTimeout]);

    const later = sendOne(ctx, { topic: 't', messages: [makeMessage('t')] }, Date.now() + 1_000, live());
    await flush();
    expect(made.flatMap((p) => p.sendBatch.mock.calls)).toHaveLength(1); // waits for the abandoned send
    release();
    expect(codes(await later)).toEqual(['ok']);
    expect(made[1]!.sendBatch).toHaveBeenCalledTimes(1); // on a fresh producer

    const blocked = context(() => fakeProducer(() => new Promise(() => undefined)));
    await sendOne(blocked, { topic: 't', messages: [makeMessage('t')] }, Date.now() + 20, live());
    const waiting = await sendOne(blocked, { topic: 't', messages: [makeMessage('t')] }, Date.now() + 20, live());
    expect(waiting[0]!.ok === false && waiting[0]!.error.message).toMatch(/earlier, abandoned send/);
  });

  it('pauses a held partition and resumes it when its time has come; a shorter hold does not cut a longer one', () => {
    vi.useFakeTimers();
    const calls: string[] = [];
    const consumer = {
      pause: (tps: Array<{ topic: string; partitions?: number[] }>) => calls.push(`pause ${tps[0]!.topic}/${tps[0]!.partitions![0]}`),
      resume: (tps: Array<{ topic: string; partitions?: number[] }>) => calls.push(`resume ${tps[0]!.topic}/${tps[0]!.partitions![0]}`),
    } as unknown as KafkaConsumerLike;
    const gate = createPartitionGate(() => consumer, () => undefined);
    gate.holdFor('orders', 1, 1_000);
    gate.holdFor('orders', 1, 100);
    vi.advanceTimersByTime(999);
    expect(calls).toEqual(['pause orders/1']);
    vi.advanceTimersByTime(1);
    expect(calls).toEqual(['pause orders/1', 'resume orders/1']);
    gate.holdFor('orders', 2, 500);
    gate.clear();
    vi.advanceTimersByTime(1_000);
    expect(calls).toEqual(['pause orders/1', 'resume orders/1', 'pause orders/2']);
  });
});
