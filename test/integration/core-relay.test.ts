import { afterEach, describe, it, expect, vi } from 'vitest';
import pg from 'pg';
import { createOutbox, type Outbox } from '../../src/outbox/enqueue.js';
import { createPgStore } from '../../src/outbox/pg-store.js';
import { createDeadLetters } from '../../src/outbox/dead-letters.js';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import type { RelayEvents } from '../../src/relay/events.js';
import type { RelayOptions } from '../../src/relay/options.js';
import { createMemoryTransport, type MemoryTransport } from '../../src/testing/memory-transport.js';
import { ErrorCode, NonRetryableError, PostboxError } from '../../src/errors.js';
import { failed, type Transport } from '../../src/transport.js';
import type { MessageInput, OutboxMessage } from '../../src/message.js';
import type { ConnectionPool } from '../../src/db/queryable.js';
import { silentLogger } from '../../src/logger.js';
import { createNotifier, listenForWakeups } from '../../src/relay/notify.js';
import { signalEnqueued } from '../../src/signals.js';
import { useDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';
import { DATABASE_URL } from '../helpers/services.js';

const { pool, freshSchema } = useDatabase();

const relays: Relay[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop({ timeoutMs: 1000 })));
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** Small, fast settings; 10 ms backoff without jitter unless the test says otherwise. */
async function startRelay(schema: string, transport: Transport, options: Partial<RelayOptions> = {}): Promise<Relay> {
  const relay = createRelay({
    pool,
    schema,
    transport,
    logger: silentLogger,
    minPollIntervalMs: 5,
    maxPollIntervalMs: 50,
    leaseMs: 2_000,
    policies: { default: { backoff: { initialMs: 10, maxMs: 100, jitter: 'none' } } },
    ...options,
  });
  relays.push(relay);
  await relay.start();
  return relay;
}

async function setup(): Promise<{ schema: string; outbox: Outbox }> {
  const schema = await freshSchema();
  return { schema, outbox: createOutbox({ schema }) };
}

interface Attempt {
  readonly id: string;
  readonly key: string | null;
  readonly n: number | undefined;
  readonly attempt: number;
  readonly at: number;
  readonly ok: boolean;
}

/**
 * Lets `fail(message, nth)` decide each publish (nth: how many times this id was offered) and
 * logs every offer with its time. Returns the log.
 */
function script(transport: MemoryTransport, fail: (m: OutboxMessage, nth: number) => Error | undefined = () => undefined): Attempt[] {
  const log: Attempt[] = [];
  const offered = new Map<string, number>();
  transport.failWhen((m) => {
    const nth = (offered.get(m.id) ?? 0) + 1;
    offered.set(m.id, nth);
    const error = fail(m, nth);
    log.push({ id: m.id, key: m.key, n: numberOf(m), attempt: m.attempt, at: Date.now(), ok: error === undefined });
    return error;
  });
  return log;
}

function numberOf(m: OutboxMessage): number | undefined {
  try {
    return (JSON.parse(m.payload.toString()) as { n?: number }).n;
  } catch {
    return undefined;
  }
}

const msg = (n: number, extra: Partial<MessageInput> = {}): MessageInput => ({ topic: 'orders.updated', payload: { n }, ...extra });

/** Outbox rows with the token of the lease holding each (claimed_by), if any. */
async function outboxRows(schema: string) {
  const { rows } = await pool.query(
    `SELECT o.id::text, o.key, o.attempts, o.errors, l.token AS claimed_by, o.available_at > now() AS waiting
     FROM "${schema}".outbox o LEFT JOIN "${schema}".outbox_leases l ON l.seq = o.seq AND l.until > now()
     ORDER BY o.seq`,
  );
  return rows as Array<{ id: string; key: string | null; attempts: number; errors: Array<Record<string, unknown>>; claimed_by: string | null; waiting: boolean }>;
}

/** Collects every payload of an event. */
function collect<E extends keyof RelayEvents>(relay: Relay, event: E): Array<RelayEvents[E]> {
  const seen: Array<RelayEvents[E]> = [];
  relay.on(event, (payload) => seen.push(payload));
  return seen;
}

/**
 * A pool that notes when each claim starts, to tell when an idle relay has backed off to long
 * polls (the gap between its last two claims).
 */
function claimWatchingPool(base: pg.Pool): { pool: ConnectionPool; lastGapMs: () => number } {
  const claimsAt: number[] = [];
  return {
    lastGapMs: () => (claimsAt.length < 2 ? 0 : claimsAt.at(-1)! - claimsAt.at(-2)!),
    pool: {
      query: (text, values) => base.query(text, values),
      async connect() {
        const client = await base.connect();
        return new Proxy(client, {
          get(target, property) {
            if (property === 'query') {
              return (text: unknown, values?: unknown[]) => {
                if (typeof text === 'string' && text.includes('pg_advisory_xact_lock')) claimsAt.push(Date.now());
                return target.query(text as string, values);
              };
            }
            const value = Reflect.get(target, property, target);
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      },
    },
  };
}

describe('relay: publishing', () => {
  it('publishes every committed message once, with its id, headers and fields intact', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    await startRelay(schema, transport);
    const inputs: MessageInput[] = [
      ...Array.from({ length: 12 }, (_, i) => msg(i, { key: `k${i % 3}`, headers: { tenant: `t${i}` } })),
      { topic: 'blobs.stored', payload: Buffer.from([1, 2, 3]), correlationId: 'corr-1', replyTo: 'replies.blobs' },
      msg(99, { key: null }),
    ];
    const ids = await outbox.enqueue(pool, inputs);
    await transport.waitForCount(inputs.length);
    await waitFor('the outbox to be empty', async () => (await outboxRows(schema)).length === 0);
    expect(transport.published).toHaveLength(inputs.length);
    const byId = new Map(transport.published.map((m) => [m.id, m]));
    expect([...byId.keys()].sort()).toEqual([...ids].sort());
    ids.forEach((id, i) => {
      const m = byId.get(id)!;
      const input = inputs[i]!;
      expect(m.topic).toBe(input.topic);
      expect(m.key).toBe(input.key ?? null);
      expect(m.headers).toEqual(input.headers ?? {});
      expect(m.attempt).toBe(1);
      expect(m.createdAt).toBeInstanceOf(Date);
    });
    const blob = byId.get(ids[12]!)!;
    expect([...blob.payload]).toEqual([1, 2, 3]);
    expect(blob).toMatchObject({ contentType: 'application/octet-stream', correlationId: 'corr-1', replyTo: 'replies.blobs' });
    expect(JSON.parse(byId.get(ids[0]!)!.payload.toString())).toEqual({ n: 0 });
  });

  it('retries a transient failure after the backoff and records the error in the history', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    const log = script(transport, (_m, nth) => (nth === 1 ? Object.assign(new Error('broker hiccup'), { code: 'ECONNRESET' }) : undefined));
    await startRelay(schema, transport, { policies: { default: { backoff: { initialMs: 400, maxMs: 400, jitter: 'none' } } } });
    const id = await outbox.enqueue(pool, msg(1, { key: 'k' }));
    const [row] = await waitFor('the failed attempt to be recorded', async () => {
      const rows = await outboxRows(schema);
      return rows[0]?.errors.length === 1 ? rows : undefined;
    });
    expect(row).toMatchObject({ id, attempts: 1, claimed_by: null, waiting: true });
    expect(row!.errors[0]).toMatchObject({ attempt: 1, message: 'Error: broker hiccup', code: 'ECONNRESET', delayMs: 400 });
    expect(Date.parse(row!.errors[0]!.at as string)).toBeGreaterThan(0);
    const [published] = await transport.waitForCount(1);
    expect(published).toMatchObject({ id, attempt: 2 });
    expect(log.map((a) => [a.attempt, a.ok])).toEqual([[1, false], [2, true]]);
    expect(log[1]!.at - log[0]!.at).toBeGreaterThanOrEqual(390);
  });

  it('blocks only the key whose head is in backoff; other keys keep flowing and the key stays in order', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    const failA1 = (m: OutboxMessage, nth: number) => (m.key === 'A' && numberOf(m) === 1 && nth === 1 ? new Error('A1 fails once') : undefined);
    const log = script(transport, failA1);
    const relay = await startRelay(schema, transport, { policies: { default: { backoff: { initialMs: 600, maxMs: 600, jitter: 'none' } } } });
    const settled = collect(relay, 'relay:batch-settled');
    await outbox.enqueue(pool, [msg(1, { key: 'A' }), msg(1, { key: 'B' }), msg(2, { key: 'A' }), msg(2, { key: 'B' }), msg(3, { key: 'A' })]);
    await waitFor('the first batch to settle', () => settled.length > 0);
    // One batch: B1 and B2 published, A1 retried, A2 and A3 put back untouched.
    expect(settled[0]).toMatchObject({ published: 2, retried: 1, dead: 0, released: 2 });
    expect(transport.published.map((m) => `${m.key}${numberOf(m)}`)).toEqual(['B1', 'B2']);
    const rowsOfA = (await outboxRows(schema)).filter((r) => r.key === 'A');
    expect(rowsOfA.map((r) => [r.attempts, r.claimed_by, r.waiting])).toEqual([[1, null, true], [0, null, false], [0, null, false]]);
    // A message of another key committed now flows while A1 waits.
    await outbox.enqueue(pool, msg(1, { key: 'C' }));
    await transport.waitForCount(3);
    expect(transport.published.map((m) => `${m.key}${numberOf(m)}`)).toEqual(['B1', 'B2', 'C1']);
    await transport.waitForCount(6);
    expect(transport.published.slice(3).map((m) => `${m.key}${numberOf(m)}`)).toEqual(['A1', 'A2', 'A3']);
    // A2 and A3 were never offered before A1 went through.
    expect(log.filter((a) => a.key === 'A').map((a) => `${a.n}:${a.ok}`)).toEqual(['1:false', '1:true', '2:true', '3:true']);
  });

  it('keeps the first deliveries of a key in order while several of its messages fail and retry', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    const flaky = new Set([1, 3, 4, 7]);
    script(transport, (m, nth) => (flaky.has(numberOf(m)!) && nth <= 2 ? new Error(`flaky ${numberOf(m)}`) : undefined));
    await startRelay(schema, transport, { batchSize: 4 });
    await outbox.enqueue(pool, Array.from({ length: 10 }, (_, i) => msg(i + 1, { key: 'K' })));
    await transport.waitForCount(10);
    expect(transport.published.map(numberOf)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("does not block a topic with ordering 'none': a later message of the key goes out while the first is in backoff", async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    const log = script(transport, (m, nth) => (numberOf(m) === 1 && nth === 1 ? new Error('first fails once') : undefined));
    const relay = await startRelay(schema, transport, {
      policies: { default: { backoff: { initialMs: 800, maxMs: 800, jitter: 'none' } }, topics: { 'metrics.#': { ordering: 'none' } } },
    });
    const retries = collect(relay, 'message:retry-scheduled');
    await outbox.enqueue(pool, { topic: 'metrics.cpu', key: 'host-1', payload: { n: 1 } });
    await waitFor('the first message to be in backoff', () => retries.length === 1);
    await outbox.enqueue(pool, { topic: 'metrics.cpu', key: 'host-1', payload: { n: 2 } });
    await transport.waitForCount(1);
    expect(transport.published.map(numberOf)).toEqual([2]);
    await transport.waitForCount(2);
    expect(transport.published.map(numberOf)).toEqual([2, 1]);
    expect(log.filter((a) => a.n === 1).map((a) => a.ok)).toEqual([false, true]);
  });
});

describe('relay: giving up', () => {
  it('dead-letters a message that failed maxAttempts times with reason max-attempts and every error', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    script(transport, (m) => new Error(`fail #${m.attempt}`));
    await startRelay(schema, transport, { policies: { default: { maxAttempts: 3, backoff: { initialMs: 10, maxMs: 10, jitter: 'none' } } } });
    const id = await outbox.enqueue(pool, msg(7, { key: 'k', headers: { tenant: 't' } }));
    const deadLetters = createDeadLetters({ pool, schema });
    const dead = await waitFor('the dead letter', () => deadLetters.show(id));
    expect(dead).toMatchObject({ id, topic: 'orders.updated', key: 'k', reason: 'max-attempts', attempts: 3, headers: { tenant: 't' }, lastError: 'Error: fail #3' });
    expect(JSON.parse(dead.payload.toString())).toEqual({ n: 7 });
    expect(dead.errors.map((e) => [e.attempt, e.message])).toEqual([
      [1, 'Error: fail #1'],
      [2, 'Error: fail #2'],
      [3, 'Error: fail #3'],
    ]);
    expect(dead.firstAttemptAt).toBeInstanceOf(Date);
    expect(dead.lastAttemptAt!.getTime()).toBeGreaterThanOrEqual(dead.firstAttemptAt!.getTime());
    expect(await outboxRows(schema)).toEqual([]);
    expect(transport.published).toHaveLength(0);
  });

  it('dead-letters a NonRetryableError at once with permanent-error, and other messages still flow', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    const log = script(transport, (m) => (numberOf(m) === 1 ? new NonRetryableError('schema mismatch') : undefined));
    await startRelay(schema, transport);
    const [poison] = await outbox.enqueue(pool, [msg(1, { key: 'k' }), msg(2, { key: 'k' }), msg(3, { key: 'other' })]);
    const deadLetters = createDeadLetters({ pool, schema });
    const dead = await waitFor('the dead letter', () => deadLetters.show(poison!));
    expect(dead).toMatchObject({ reason: 'permanent-error', attempts: 1 });
    expect(dead.errors).toEqual([expect.objectContaining({ attempt: 1, code: ErrorCode.NonRetryable, message: 'NonRetryableError: schema mismatch' })]);
    await transport.waitForCount(2);
    expect(transport.published.map(numberOf).sort()).toEqual([2, 3]);
    expect(log.filter((a) => a.n === 1)).toHaveLength(1);
  });
});

describe('relay: transport outages', () => {
  it('does not count attempts while the transport is unavailable, and resumes when it is back', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    transport.setUnavailable(true);
    const relay = await startRelay(schema, transport);
    const outages = collect(relay, 'relay:transport-unavailable');
    const settled = collect(relay, 'relay:batch-settled');
    await outbox.enqueue(pool, [msg(1, { key: 'k' }), msg(2, { key: 'k' }), msg(3)]);
    await waitFor('two outages to be noticed', () => outages.length >= 2 && settled.length >= 2);
    expect(settled.every((s) => s.published === 0 && s.retried === 0 && s.dead === 0)).toBe(true);
    expect(settled[0]!.released).toBe(3);
    expect(outages[0]!.error.message).toMatch(/unavailable/);
    expect(outages[0]!.retryInMs).toBeGreaterThan(0);
    await waitFor('the batch to be put back', async () => (await outboxRows(schema)).every((r) => r.claimed_by === null));
    for (const row of await outboxRows(schema)) expect(row).toMatchObject({ attempts: 0, errors: [] });
    transport.setUnavailable(false);
    await transport.waitForCount(3);
    expect(transport.published.map((m) => m.attempt)).toEqual([1, 1, 1]);
    expect(transport.published.filter((m) => m.key === 'k').map(numberOf)).toEqual([1, 2]);
  });
});

describe('relay: leases', () => {
  it('re-publishes a batch whose relay never settled once the lease expires, recording the abandoned attempt', async () => {
    const { schema, outbox } = await setup();
    const [kept, poison] = await outbox.enqueue(pool, [msg(1, { key: 'a' }), msg(2, { key: 'b' })]);
    const ghost = createPgStore({ pool, schema });
    const claimed = await ghost.claim('ghost-relay', 10, 300);
    expect(claimed.map((m) => m.id)).toEqual([kept, poison]);
    expect(claimed.map((m) => m.attempt)).toEqual([1, 1]);

    const transport = createMemoryTransport();
    script(transport, (m) => (m.id === poison ? new NonRetryableError('poison') : undefined));
    await startRelay(schema, transport);
    const [published] = await transport.waitForCount(1);
    expect(published).toMatchObject({ id: kept, attempt: 2 });
    const dead = await waitFor('the dead letter', () => createDeadLetters({ pool, schema }).show(poison!));
    expect(dead.attempts).toBe(2);
    expect(dead.errors).toEqual([
      expect.objectContaining({ attempt: 1, code: 'POSTBOX_LEASE_EXPIRED', message: expect.stringContaining('ghost-relay') }),
      expect.objectContaining({ attempt: 2, code: ErrorCode.NonRetryable }),
    ]);
  });

  it('ignores the settle of a relay whose lease was taken over', async () => {
    const { schema, outbox } = await setup();
    const id = await outbox.enqueue(pool, msg(1));
    const store = createPgStore({ pool, schema });
    const [first] = await store.claim('slow-relay', 10, 200);
    const [second] = await waitFor('the lease to expire and another relay to claim', async () => {
      const batch = await store.claim('fast-relay', 10, 60_000);
      return batch.length > 0 ? batch : undefined;
    });
    expect(second).toMatchObject({ id, attempt: 2 });
    const late = await store.settle(
      'slow-relay',
      { published: [{ id, attempt: first!.attempt }], retried: [], dead: [], released: [] },
      { retainPublished: false },
    );
    expect(late).toEqual({ published: 0, retried: 0, dead: 0, released: 0 });
    // attempts counts the abandoned first attempt; the second is in progress under fast-relay.
    expect(await outboxRows(schema)).toEqual([expect.objectContaining({ id, attempts: 1, claimed_by: 'fast-relay' })]);
  });

  it('dead-letters without publishing a message claimed more than maxAttempts times that never finished', async () => {
    const { schema, outbox } = await setup();
    const id = await outbox.enqueue(pool, msg(1));
    const store = createPgStore({ pool, schema });
    expect(await store.claim('crashed-1', 10, 200)).toHaveLength(1);
    await waitFor('the first lease to expire', async () => (await store.claim('crashed-2', 10, 200)).length === 1);
    const transport = createMemoryTransport();
    const log = script(transport);
    const relay = await startRelay(schema, transport, { policies: { default: { maxAttempts: 2 } } });
    const deadEvents = collect(relay, 'message:dead-lettered');
    const dead = await waitFor('the dead letter', () => createDeadLetters({ pool, schema }).show(id));
    // Two attempts started and never finished; the third claim gave up without sending.
    expect(dead).toMatchObject({ reason: 'max-attempts', attempts: 2 });
    expect(dead.errors.map((e) => [e.attempt, e.code])).toEqual([
      [1, 'POSTBOX_LEASE_EXPIRED'],
      [2, 'POSTBOX_LEASE_EXPIRED'],
    ]);
    expect(log).toEqual([]);
    expect(transport.published).toEqual([]);
    await waitFor('the dead-lettered event', () => deadEvents.length === 1);
    expect(deadEvents[0]).toEqual({ id, topic: 'orders.updated', key: null, attempt: 3, reason: 'max-attempts', error: null });
  });
});

describe('relay: vacuum after a drained backlog', () => {
  const lastVacuum = async (schema: string, table = 'outbox'): Promise<Date | null> => {
    const { rows } = await pool.query(
      `SELECT last_vacuum FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2`,
      [schema, table],
    );
    return rows[0]?.last_vacuum ?? null;
  };

  it('vacuums the outbox once vacuumAfterRows messages were published and the backlog is drained', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    await outbox.enqueue(pool, Array.from({ length: 60 }, (_, n) => msg(n)));
    await startRelay(schema, transport, { vacuumAfterRows: 50, batchSize: 25 });
    await transport.waitForCount(60);
    // Statistics reach other sessions within about a second.
    await waitFor('the relay to vacuum the outbox', () => lastVacuum(schema), { timeoutMs: 10_000 });
  });

  it('vacuums the lease table while a backlog drains, before the backlog is drained', async () => {
    const { schema, outbox } = await setup();
    const memory = createMemoryTransport();
    // After 200 messages publishing hangs until released: the backlog never drains meanwhile.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    cleanups.push(() => release()); // a failing assertion must not leave the relay hanging
    const transport: Transport = {
      name: 'gated',
      publish: async (batch, options) => {
        if (memory.published.length >= 200) await released;
        return memory.publish(batch, options);
      },
      close: () => memory.close(),
    };
    await outbox.enqueue(pool, Array.from({ length: 1000 }, (_, n) => msg(n)));
    const relay = await startRelay(schema, transport, { vacuumAfterRows: 50, batchSize: 25, maxBatchesInFlight: 2 });
    await memory.waitForCount(200);
    await waitFor('the relay to vacuum the lease table', () => lastVacuum(schema, 'outbox_leases'), { timeoutMs: 10_000 });
    expect(await lastVacuum(schema)).toBeNull();
    expect((await outboxRows(schema)).length).toBeGreaterThan(500);
    release();
    await memory.waitForCount(1000);
    await relay.stop();
  });

  it('leaves vacuuming to autovacuum when vacuumAfterRows is 0', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    await outbox.enqueue(pool, Array.from({ length: 60 }, (_, n) => msg(n)));
    const relay = await startRelay(schema, transport, { vacuumAfterRows: 0, batchSize: 25 });
    await transport.waitForCount(60);
    await relay.stop();
    await pool.query('SELECT pg_stat_force_next_flush()');
    expect(await lastVacuum(schema)).toBeNull();
    expect(await lastVacuum(schema, 'outbox_leases')).toBeNull();
  });
});

describe('relay: retention', () => {
  it('keeps published rows for retainPublishedMs, then the cleanup removes them', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    await startRelay(schema, transport, { retainPublishedMs: 700, cleanupIntervalMs: 100 });
    const ids = await outbox.enqueue(pool, [msg(1), msg(2)]);
    const kept = async () =>
      (await pool.query(`SELECT id::text, attempts, now() - published_at AS age FROM "${schema}".outbox_published ORDER BY id`)).rows;
    await waitFor('the published rows to be retained', async () => (await kept()).length === 2);
    const publishedAt = Date.now();
    expect((await kept()).map((r) => r.id)).toEqual([...ids].sort());
    expect((await kept()).every((r) => r.attempts === 1)).toBe(true);
    expect(await outboxRows(schema)).toEqual([]);
    await waitFor('the cleanup to remove them', async () => (await kept()).length === 0);
    expect(Date.now() - publishedAt).toBeGreaterThanOrEqual(550);
  });

  it('keeps nothing when retainPublishedMs is 0', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    const relay = await startRelay(schema, transport);
    const settled = collect(relay, 'relay:batch-settled');
    await outbox.enqueue(pool, msg(1));
    await waitFor('the batch to settle', () => settled.some((s) => s.published === 1));
    expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".outbox_published`)).rows[0].n).toBe(0);
  });
});

describe('relay: stopping', () => {
  it('registers itself while running, refuses a second start, and unregisters on stop', async () => {
    const { schema } = await setup();
    const relay = await startRelay(schema, createMemoryTransport({ name: 'memory-x' }), { id: 'relay-under-test' });
    const registered = async () => (await pool.query(`SELECT id, transport, pid FROM "${schema}".relays`)).rows;
    expect(await registered()).toEqual([{ id: 'relay-under-test', transport: 'memory-x', pid: process.pid }]);
    expect(relay.running).toBe(true);
    await expect(relay.start()).rejects.toThrow(/already started/);
    await relay.stop();
    expect(relay.running).toBe(false);
    expect(await registered()).toEqual([]);
  });

  it('stop() lets the in-flight batch finish and settle, leaving nothing leased', async () => {
    const { schema, outbox } = await setup();
    const memory = createMemoryTransport();
    let publishing!: () => void;
    const started = new Promise<void>((resolve) => (publishing = resolve));
    const slow: Transport = {
      name: 'slow',
      async publish(batch, options) {
        publishing();
        await new Promise((resolve) => setTimeout(resolve, 150));
        return memory.publish(batch, options);
      },
      close: async () => {},
    };
    const relay = await startRelay(schema, slow);
    await outbox.enqueue(pool, Array.from({ length: 5 }, (_, i) => msg(i)));
    await started;
    await relay.stop();
    expect(relay.running).toBe(false);
    expect(memory.published).toHaveLength(5);
    expect(await outboxRows(schema)).toEqual([]);
  });

  it.each([
    ['the postbox Stopped error', (_signal: AbortSignal) => new PostboxError(ErrorCode.Stopped, 'publish aborted')],
    ['the abort reason of the signal', (signal: AbortSignal) => signal.reason as Error],
  ])(
    'stop() during a hung publish returns within stopTimeoutMs and puts the messages back without counting an attempt (transport reports %s)',
    async (_name, abortError) => {
      const { schema, outbox } = await setup();
      let publishing!: () => void;
      const started = new Promise<void>((resolve) => (publishing = resolve));
      const hung: Transport = {
        name: 'hung',
        async publish(batch, { signal }) {
          publishing();
          await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          return batch.map(() => failed(abortError(signal)));
        },
        close: async () => {},
      };
      const relay = await startRelay(schema, hung, { stopTimeoutMs: 300, leaseMs: 10_000 });
      const ids = await outbox.enqueue(pool, [msg(1, { key: 'k' }), msg(2, { key: 'k' }), msg(3)]);
      await started;
      const stopStarted = Date.now();
      await relay.stop();
      const took = Date.now() - stopStarted;
      expect(took).toBeGreaterThanOrEqual(250);
      expect(took).toBeLessThan(1_500);
      const rows = await outboxRows(schema);
      expect(rows.map((r) => r.id)).toEqual(ids);
      for (const row of rows) expect(row).toMatchObject({ attempts: 0, claimed_by: null, waiting: false, errors: [] });

      const transport = createMemoryTransport();
      await startRelay(schema, transport);
      await transport.waitForCount(3);
      expect(transport.published.map((m) => m.attempt)).toEqual([1, 1, 1]);
    },
  );
});

describe('relay: wake-ups', () => {
  it('publishes a message committed in this process quickly even when idle polling has slowed to seconds', async () => {
    const { schema, outbox } = await setup();
    const watched = claimWatchingPool(pool);
    const transport = createMemoryTransport();
    await startRelay(schema, transport, { pool: watched.pool, maxPollIntervalMs: 5_000 });
    await waitFor('idle polling to slow down', () => watched.lastGapMs() >= 600, { intervalMs: 5 });
    // The next poll is more than a second away now.
    const committedAt = Date.now();
    await outbox.enqueue(pool, msg(1));
    await transport.waitForCount(1);
    expect(Date.now() - committedAt).toBeLessThan(400);
  });

  it('wakes a relay with listen: true through NOTIFY sent by createNotifier in another "process"', async () => {
    const { schema } = await setup();
    // A fresh copy of the modules stands for the producer process: its in-process hints cannot
    // reach the relay created from this file's copy, only its NOTIFY can.
    vi.resetModules();
    const producer = await import('../../src/index.js');
    expect(producer.createOutbox).not.toBe(createOutbox);
    const producerPool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    cleanups.push(() => producerPool.end());
    const notifier = producer.createNotifier({ pool: producerPool, schema, debounceMs: 5 });
    cleanups.push(() => notifier.stop());

    const watched = claimWatchingPool(pool);
    const transport = createMemoryTransport();
    await startRelay(schema, transport, { pool: watched.pool, maxPollIntervalMs: 5_000, listen: true, wakeWindowMs: 200 });
    await waitFor('idle polling to slow down', () => watched.lastGapMs() >= 600, { intervalMs: 5 });
    const committedAt = Date.now();
    await producer.createOutbox({ schema }).enqueue(producerPool, msg(1));
    await transport.waitForCount(1);
    expect(Date.now() - committedAt).toBeLessThan(400);
  });
});

describe('relay: NOTIFY channel', () => {
  it.each([
    ['a short schema name', 'notify_short'],
    ['the longest schema name allowed (63 characters)', `s${'x'.repeat(62)}`],
  ])('delivers a notifier wake-up to a LISTENing relay for %s', async (_name, schema) => {
    let wakes = 0;
    const errors: Error[] = [];
    const stopListening = listenForWakeups(pool, schema, () => wakes++, (error) => errors.push(error));
    cleanups.push(stopListening);
    // The listener wakes once as soon as it is listening.
    await waitFor('the LISTEN to be in place', () => wakes === 1);
    const notifier = createNotifier({ pool, schema, debounceMs: 1 });
    cleanups.push(() => notifier.stop());
    signalEnqueued(schema);
    await waitFor('the NOTIFY to arrive', () => wakes >= 2, { timeoutMs: 1_500 });
    expect(errors).toEqual([]);
  });
});

describe('relay: events', () => {
  it('emits batch-settled, retry-scheduled and dead-lettered with the right payloads', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    script(transport, (m, nth) => {
      const n = numberOf(m);
      if (n === 2 && nth === 1) return new Error('flaky');
      if (n === 3) return new Error('doomed');
      if (n === 4) return new NonRetryableError('poison');
      return undefined;
    });
    const relay = createRelay({
      pool,
      schema,
      transport,
      logger: silentLogger,
      minPollIntervalMs: 5,
      maxPollIntervalMs: 50,
      leaseMs: 2_000,
      policies: { default: { maxAttempts: 2, backoff: { initialMs: 20, maxMs: 20, jitter: 'none' } } },
    });
    relays.push(relay);
    const settled = collect(relay, 'relay:batch-settled');
    const retries = collect(relay, 'message:retry-scheduled');
    const deaths = collect(relay, 'message:dead-lettered');
    await relay.start();
    const [ok, flaky, doomed, poison] = await outbox.enqueue(pool, [msg(1, { key: 'a' }), msg(2, { key: 'b' }), msg(3, { key: 'c' }), msg(4)]);
    await waitFor('every outcome', () => deaths.length === 2 && transport.published.length === 2);
    await waitFor('the last batch to settle', () => settled.reduce((sum, s) => sum + s.published + s.dead, 0) === 4);

    const sum = (field: 'published' | 'retried' | 'dead' | 'released') => settled.reduce((total, s) => total + s[field], 0);
    expect([sum('published'), sum('retried'), sum('dead'), sum('released')]).toEqual([2, 2, 2, 0]);
    for (const s of settled) expect(s.durationMs).toBeGreaterThanOrEqual(0);

    expect(retries.sort((x, y) => x.id.localeCompare(y.id))).toEqual(
      [
        { id: flaky, topic: 'orders.updated', key: 'b', attempt: 1, delayMs: 20, error: 'Error: flaky' },
        { id: doomed, topic: 'orders.updated', key: 'c', attempt: 1, delayMs: 20, error: 'Error: doomed' },
      ].sort((x, y) => x.id!.localeCompare(y.id!)),
    );
    expect(deaths.sort((x, y) => x.id.localeCompare(y.id))).toEqual(
      [
        { id: doomed, topic: 'orders.updated', key: 'c', attempt: 2, reason: 'max-attempts', error: 'Error: doomed' },
        { id: poison, topic: 'orders.updated', key: null, attempt: 1, reason: 'permanent-error', error: 'NonRetryableError: poison' },
      ].sort((x, y) => x.id!.localeCompare(y.id!)),
    );
    expect(transport.published.map((m) => m.id).sort()).toEqual([ok, flaky].sort());
  });
});
