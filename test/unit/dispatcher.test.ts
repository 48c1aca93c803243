import { describe, expect, it } from 'vitest';
import { Dispatcher, type Batch } from '../../src/relay/dispatcher.js';
import type { ClaimedMessage } from '../../src/relay/store.js';
import { compileRetryPolicies } from '../../src/retry/policy.js';
import { ErrorCode, PostboxError, TransportUnavailableError } from '../../src/errors.js';
import { PUBLISHED, failed, type PublishResult, type Transport } from '../../src/transport.js';
import type { OutboxMessage } from '../../src/message.js';

/** A transport whose publish() calls wait until the test answers them. */
function manualTransport() {
  const calls: Array<{ batch: readonly OutboxMessage[]; signal: AbortSignal; answer(results: PublishResult[] | Error): void }> = [];
  const transport: Transport = {
    name: 'manual',
    publish(batch, { signal }) {
      return new Promise((resolve, reject) => {
        calls.push({ batch, signal, answer: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
      });
    },
    close: async () => undefined,
  };
  return { transport, calls };
}

let seq = 0;
function message(key: string | null, topic = 'orders.created', attempt = 1): ClaimedMessage {
  seq++;
  return {
    seq: String(seq),
    id: `00000000-0000-7000-8000-${String(seq).padStart(12, '0')}`,
    topic,
    key,
    payload: Buffer.from('{}'),
    contentType: 'application/json',
    headers: {},
    correlationId: null,
    replyTo: null,
    attempt,
    createdAt: new Date(),
    previousDelayMs: null,
  };
}

function batchOf(messages: ClaimedMessage[], deadline = Date.now() + 60_000): Batch {
  return { token: `t${seq}`, claimedAt: Date.now(), deadline, outcomes: new Map(), pending: messages.length };
}

function setup(overrides: { window?: number; chunkSize?: number; policies?: Parameters<typeof compileRetryPolicies>[0] } = {}) {
  const { transport, calls } = manualTransport();
  const done: Batch[] = [];
  const unavailable: Error[] = [];
  const stop = new AbortController();
  const policies = compileRetryPolicies(overrides.policies ?? { default: { maxAttempts: 3, backoff: { initialMs: 10, maxMs: 10 } } });
  const dispatcher = new Dispatcher({
    transport,
    policies,
    isOrdered: (topic) => policies.forTopic(topic).ordering === 'key',
    random: () => 0.5,
    window: overrides.window ?? 100,
    chunkSize: overrides.chunkSize ?? 10,
    stopSignal: stop.signal,
    onBatchDone: (batch) => done.push(batch),
    onTransportUnavailable: (error) => unavailable.push(error),
    onTransportThrew: () => undefined,
  });
  return { dispatcher, calls, done, unavailable, stop };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));
const kinds = (batch: Batch, messages: ClaimedMessage[]) => messages.map((m) => batch.outcomes.get(m)?.kind);

describe('Dispatcher', () => {
  it('keeps at most `window` messages unacknowledged, in chunks of at most chunkSize', async () => {
    const { dispatcher, calls } = setup({ window: 25, chunkSize: 10 });
    const messages = Array.from({ length: 60 }, () => message(null));
    dispatcher.add(batchOf(messages), messages, false);
    expect(calls.map((c) => c.batch.length)).toEqual([10, 10, 5]);
    expect(dispatcher.inFlight).toBe(25);
    calls[0]?.answer(calls[0].batch.map(() => PUBLISHED));
    await settle();
    expect(calls.slice(3).map((c) => c.batch.length)).toEqual([10]);
    expect(dispatcher.inFlight).toBe(25);
  });

  it('sends the next message of a key only after the previous one is confirmed', async () => {
    const { dispatcher, calls, done } = setup();
    const [a1, a2, b1] = [message('a'), message('a'), message('b')];
    const batch = batchOf([a1!, a2!, b1!]);
    dispatcher.add(batch, [a1!, a2!, b1!], false);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.batch.map((m) => m.id)).toEqual([a1!.id, b1!.id]);
    calls[0]?.answer([PUBLISHED, PUBLISHED]);
    await settle();
    expect(calls[1]?.batch.map((m) => m.id)).toEqual([a2!.id]);
    calls[1]?.answer([PUBLISHED]);
    await settle();
    expect(done).toEqual([batch]);
    expect(kinds(batch, [a1!, a2!, b1!])).toEqual(['published', 'published', 'published']);
  });

  it('puts back the successors of a message that failed, unsent, so n+1 never overtakes n', async () => {
    const { dispatcher, calls, done } = setup();
    const chain = [message('k'), message('k'), message('k')];
    const batch = batchOf(chain);
    dispatcher.add(batch, chain, false);
    calls[0]?.answer([failed(new Error('broker said no'))]);
    await settle();
    expect(calls).toHaveLength(1);
    expect(kinds(batch, chain)).toEqual(['retry', 'release', 'release']);
    expect(done).toEqual([batch]);
  });

  it('does not chain messages of an unordered topic', () => {
    const { dispatcher, calls } = setup({ policies: { topics: { 'metrics.#': { ordering: 'none' } } } });
    const messages = [message('k', 'metrics.cpu'), message('k', 'metrics.cpu')];
    dispatcher.add(batchOf(messages), messages, false);
    expect(calls[0]?.batch).toHaveLength(2);
  });

  it('dead-letters a message claimed more often than maxAttempts without sending it, and lets its key move on', async () => {
    const { dispatcher, calls } = setup();
    const crashLooper = message('k', 'orders.created', 4);
    const next = message('k');
    const batch = batchOf([crashLooper, next]);
    dispatcher.add(batch, [crashLooper, next], false);
    expect(batch.outcomes.get(crashLooper)).toMatchObject({ kind: 'dead', reason: 'max-attempts' });
    expect(calls[0]?.batch.map((m) => m.id)).toEqual([next.id]);
  });

  it('puts back the chunk and everything queued when the transport is unavailable, and reports it', async () => {
    const { dispatcher, calls, done, unavailable } = setup({ window: 10, chunkSize: 10 });
    const messages = Array.from({ length: 30 }, () => message(null));
    const batch = batchOf(messages);
    dispatcher.add(batch, messages, false);
    calls[0]?.answer(new TransportUnavailableError('not connected'));
    await settle();
    expect(calls).toHaveLength(1);
    expect(new Set(kinds(batch, messages))).toEqual(new Set(['release']));
    expect(unavailable).toHaveLength(1);
    expect(done).toEqual([batch]);
  });

  it('does not send messages of a batch whose lease deadline has passed', () => {
    const { dispatcher, calls, done } = setup();
    const messages = [message(null), message(null)];
    const batch = batchOf(messages, Date.now() - 1);
    dispatcher.add(batch, messages, false);
    expect(calls).toHaveLength(0);
    expect(kinds(batch, messages)).toEqual(['release', 'release']);
    expect(done).toEqual([batch]);
  });

  it('aborts in-flight publishes on stop and puts their messages back without counting an attempt', async () => {
    const { dispatcher, calls, stop } = setup();
    const messages = [message('k'), message('k')];
    const batch = batchOf(messages);
    dispatcher.add(batch, messages, false);
    stop.abort();
    expect(calls[0]?.signal.aborted).toBe(true);
    calls[0]?.answer([failed(new PostboxError(ErrorCode.Stopped, 'aborted'))]);
    await settle();
    expect(kinds(batch, messages)).toEqual(['release', 'release']);
  });

  it('reports a batch done exactly once, when its last message has an outcome', async () => {
    const { dispatcher, calls, done } = setup({ window: 2, chunkSize: 1 });
    const messages = [message(null), message(null), message(null)];
    const batch = batchOf(messages);
    dispatcher.add(batch, messages, false);
    calls[0]?.answer([PUBLISHED]);
    calls[1]?.answer([PUBLISHED]);
    await settle();
    expect(done).toHaveLength(0);
    calls[2]?.answer([PUBLISHED]);
    await settle();
    expect(done).toEqual([batch]);
  });
});
