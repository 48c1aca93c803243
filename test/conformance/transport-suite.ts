/**
 * One conformance suite for every Transport (Watermill style): each transport provides a harness
 * and declares which guarantees it has; the suite asserts the Transport contract (src/transport.ts)
 * and each declared guarantee against the real broker.
 *
 * Use it from a test file: describeTransportConformance(myHarness).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutboxMessage } from '../../src/message.js';
import type { PublishResult, Transport } from '../../src/transport.js';

/**
 * Guarantees a transport declares. Every case runs for every transport: it asserts the declared
 * guarantee, or the weaker behaviour the transport promises instead. Nothing is skipped.
 */
export interface TransportFeatures {
  /** The broker reports a message no destination took (RabbitMQ: mandatory + basic.return). */
  readonly detectsUnroutable: boolean;
  /** Messages of one batch on one topic arrive in batch order. */
  readonly preservesBatchOrder: boolean;
}

/** A message as read back from the broker, in transport-neutral form. */
export interface ReceivedMessage {
  readonly id: string;
  readonly topic: string;
  readonly key: string | null;
  readonly payload: Buffer;
  readonly contentType: string;
  /** Every header as a string, including the transport's own (postbox-*). */
  readonly headers: Readonly<Record<string, string>>;
  readonly correlationId: string | null;
  /** undefined when the transport does not carry replyTo. */
  readonly replyTo?: string | null;
}

/** What a transport provides for one test. */
export interface TransportHarnessContext {
  readonly transport: Transport;
  /** A topic that routes to a fresh destination, empty and unique to this call. */
  topic(): string;
  /** A topic the broker cannot route anywhere (only when features.detectsUnroutable). */
  unroutableTopic?(): string;
  /**
   * The first `count` messages published to `topic`, in arrival order; rejects when fewer arrived
   * within timeoutMs. Each call returns messages not returned before.
   */
  read(topic: string, count: number, timeoutMs: number): Promise<ReceivedMessage[]>;
  /** Deletes what setup created; must work after transport.close(). */
  teardown(): Promise<void>;
}

export interface TransportHarness {
  readonly name: string;
  readonly features: TransportFeatures;
  setup(): Promise<TransportHarnessContext>;
}

/** An outbox message as the relay would pass it. */
export function makeMessage(topic: string, overrides: Partial<OutboxMessage> = {}): OutboxMessage {
  return {
    id: randomUUID(),
    topic,
    key: null,
    payload: Buffer.from(JSON.stringify({ n: Math.random() })),
    contentType: 'application/json',
    headers: {},
    correlationId: null,
    replyTo: null,
    attempt: 1,
    createdAt: new Date(),
    ...overrides,
  };
}

const READ_TIMEOUT_MS = 15_000;

function live(): AbortSignal {
  return new AbortController().signal;
}

function okFlags(results: readonly PublishResult[]): boolean[] {
  return results.map((r) => r.ok);
}

export function describeTransportConformance(harness: TransportHarness): void {
  describe(`transport conformance: ${harness.name}`, () => {
    let ctx: TransportHarnessContext;

    beforeEach(async () => {
      ctx = await harness.setup();
    });
    afterEach(async () => {
      await ctx.teardown();
    });

    it('returns exactly one result per message, in batch order', async () => {
      const topic = ctx.topic();
      // Valid JSON, as the content type says (a transport may refuse a JSON-labelled payload that does not parse).
      const batch = Array.from({ length: 10 }, (_, i) => makeMessage(topic, { payload: Buffer.from(JSON.stringify(`m${i}`)) }));
      const results = await ctx.transport.publish(batch, { signal: live() });
      expect(okFlags(results)).toEqual(batch.map(() => true));
      const received = await ctx.read(topic, batch.length, READ_TIMEOUT_MS);
      const ids = received.map((m) => m.id);
      if (harness.features.preservesBatchOrder) expect(ids).toEqual(batch.map((m) => m.id));
      else expect(new Set(ids)).toEqual(new Set(batch.map((m) => m.id)));
    });

    it('keeps results in batch order when some messages fail (or, without unroutable detection, all succeed in order)', async () => {
      const topic = ctx.topic();
      const lost = harness.features.detectsUnroutable ? ctx.unroutableTopic! : () => topic;
      const batch = [makeMessage(topic), makeMessage(lost()), makeMessage(topic), makeMessage(lost()), makeMessage(topic)];
      const results = await ctx.transport.publish(batch, { signal: live() });
      const expected = harness.features.detectsUnroutable ? [true, false, true, false, true] : [true, true, true, true, true];
      expect(okFlags(results)).toEqual(expected);
    });

    it('delivers payload bytes, content type, id, key, headers and correlation id intact', async () => {
      const topic = ctx.topic();
      const message = makeMessage(topic, {
        key: 'customer-42',
        payload: Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
        contentType: 'application/x-conformance',
        headers: { 'x-tenant': 'acme', note: 'ünïcödé ✓' },
        correlationId: 'corr-1',
        replyTo: 'replies',
      });
      const [result] = await ctx.transport.publish([message], { signal: live() });
      expect(result?.ok).toBe(true);
      const [received] = await ctx.read(topic, 1, READ_TIMEOUT_MS);
      expect(received).toBeDefined();
      expect(received!.id).toBe(message.id);
      expect(received!.topic).toBe(topic);
      expect(received!.key).toBe('customer-42');
      expect(received!.payload.equals(message.payload)).toBe(true);
      expect(received!.contentType).toBe('application/x-conformance');
      expect(received!.headers).toMatchObject({ 'x-tenant': 'acme', note: 'ünïcödé ✓' });
      expect(received!.correlationId).toBe('corr-1');
      if (received!.replyTo !== undefined) expect(received!.replyTo).toBe('replies');
    });

    it('confirms every message of a batch of 2,000', async () => {
      const topic = ctx.topic();
      const batch = Array.from({ length: 2_000 }, () => makeMessage(topic));
      const results = await ctx.transport.publish(batch, { signal: live() });
      expect(results).toHaveLength(2_000);
      expect(results.every((r) => r.ok)).toBe(true);
      const received = await ctx.read(topic, 2_000, READ_TIMEOUT_MS);
      expect(new Set(received.map((m) => m.id))).toEqual(new Set(batch.map((m) => m.id)));
    });

    it('publishes concurrent publish() calls completely', async () => {
      const topic = ctx.topic();
      const batches = Array.from({ length: 5 }, () => Array.from({ length: 40 }, () => makeMessage(topic)));
      const results = await Promise.all(batches.map((batch) => ctx.transport.publish(batch, { signal: live() })));
      results.forEach((batchResults, i) => {
        expect(batchResults).toHaveLength(batches[i]!.length);
        expect(batchResults.every((r) => r.ok)).toBe(true);
      });
      const received = await ctx.read(topic, 200, READ_TIMEOUT_MS);
      expect(new Set(received.map((m) => m.id))).toEqual(new Set(batches.flat().map((m) => m.id)));
    });

    it('fails an unroutable message without affecting the rest of its batch (a transport that cannot tell publishes it)', async () => {
      const topic = ctx.topic();
      if (!harness.features.detectsUnroutable) {
        // Such a broker takes every message (e.g. queues created on first use): the whole batch goes out.
        const batch = [makeMessage(topic), makeMessage(ctx.topic()), makeMessage(topic)];
        const results = await ctx.transport.publish(batch, { signal: live() });
        expect(okFlags(results)).toEqual([true, true, true]);
        expect((await ctx.read(topic, 2, READ_TIMEOUT_MS)).map((m) => m.id)).toEqual(expect.arrayContaining([batch[0]!.id, batch[2]!.id]));
        return;
      }
      const batch = [makeMessage(topic), makeMessage(ctx.unroutableTopic!()), makeMessage(topic)];
      const results = await ctx.transport.publish(batch, { signal: live() });
      expect(okFlags(results)).toEqual([true, false, true]);
      expect(results[1]!.ok === false && results[1]!.error).toBeInstanceOf(Error);
      const received = await ctx.read(topic, 2, READ_TIMEOUT_MS);
      expect(received.map((m) => m.id)).toEqual(expect.arrayContaining([batch[0]!.id, batch[2]!.id]));
    });

    it('fails every result when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      const batch = Array.from({ length: 5 }, () => makeMessage(ctx.topic()));
      const results = await ctx.transport.publish(batch, { signal: controller.signal });
      expect(results).toHaveLength(5);
      for (const result of results) expect(result.ok === false && result.error).toBeInstanceOf(Error);
    });

    it('settles every result promptly when the signal aborts during publish', async () => {
      const topic = ctx.topic();
      const controller = new AbortController();
      const batch = Array.from({ length: 500 }, () => makeMessage(topic));
      const started = Date.now();
      const pending = ctx.transport.publish(batch, { signal: controller.signal });
      controller.abort();
      const results = await pending;
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(results).toHaveLength(500);
      for (const result of results) if (!result.ok) expect(result.error).toBeInstanceOf(Error);
    });

    it('never reports success for a publish after close()', async () => {
      await ctx.transport.close();
      const batch = [makeMessage(ctx.topic())];
      const outcome = await ctx.transport.publish(batch, { signal: live() }).then(
        (results) => results,
        (error: unknown) => error,
      );
      if (Array.isArray(outcome)) {
        expect(outcome).toHaveLength(1);
        expect(outcome[0].ok).toBe(false);
      } else {
        expect(outcome).toBeInstanceOf(Error);
      }
    });
  });
}
