/** Health and status caching of the metrics module, with a fake relay and a fake database. */
import { describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/db/queryable.js';
import { createRelayMetrics } from '../../src/metrics/relay-metrics.js';
import { createRelayHealth } from '../../src/metrics/health.js';
import { createStatusCache } from '../../src/metrics/status-cache.js';
import { RelayEmitter } from '../../src/relay/events.js';
import type { Relay } from '../../src/relay/relay.js';

function fakeRelay(): { relay: Relay; events: RelayEmitter; setRunning(running: boolean): void } {
  const events = new RelayEmitter();
  let running = false;
  const relay: Relay = {
    id: 'r1',
    start: async () => undefined,
    stop: async () => undefined,
    on: (event, listener) => events.on(event, listener),
    get running() {
      return running;
    },
  };
  return { relay, events, setRunning: (value) => (running = value) };
}

/** A database whose queries wait for the test: counts them, answers the status queries with empty results. */
function fakeDb() {
  const pending: Array<{ text: string; resolve(): void; reject(error: Error): void }> = [];
  const db: Queryable = {
    query: (text) =>
      new Promise((resolve, reject) => {
        pending.push({ text, resolve: () => resolve({ rows: [] }), reject });
      }),
  };
  const answerAll = async (error?: Error): Promise<void> => {
    for (let round = 0; round < 10; round++) {
      await new Promise((r) => setImmediate(r));
      for (const q of pending.splice(0)) (error === undefined ? q.resolve() : q.reject(error));
    }
  };
  return { db, pending, answerAll };
}

describe('relay health', () => {
  it('follows the relay: live until stopped, ready only while running with its transport and database', async () => {
    const { relay, events, setRunning } = fakeRelay();
    const { db, answerAll } = fakeDb();
    const health = createRelayHealth(relay, { db, windowMs: 60_000, timeoutMs: 1_000 });
    expect(health.liveness()).toEqual({ ok: true, relay: 'not started' });
    events.emit('relay:batch-claimed', { size: 3 }); // the database answered the relay
    expect(await health.readiness()).toMatchObject({ ok: false, reason: 'the relay has not started' });

    setRunning(true);
    expect(await health.readiness()).toEqual({ ok: true, relay: 'running', transport: 'available', database: 'reachable' });

    events.emit('relay:transport-unavailable', { error: new Error('connect ECONNREFUSED amqp://guest:pw@host'), retryInMs: 100 });
    const down = await health.readiness();
    expect(down).toMatchObject({ ok: false, transport: 'unavailable' });
    expect(down.reason).toMatch(/^transport unavailable: connect ECONNREFUSED/);
    expect(down.reason).not.toContain('pw');
    events.emit('relay:transport-recovered', { unavailableMs: 100 });
    expect((await health.readiness()).ok).toBe(true);

    // A failed claim: the database is probed; the probe fails.
    events.emit('relay:error', { phase: 'claim', error: new Error('connection terminated') });
    const probing = health.readiness();
    await answerAll(new Error('ECONNREFUSED'));
    expect(await probing).toMatchObject({ ok: false, database: 'unreachable', reason: 'database unreachable: ECONNREFUSED' });
    const probingAgain = health.readiness();
    await answerAll();
    expect((await probingAgain).ok).toBe(true);

    setRunning(false);
    expect(health.liveness()).toEqual({ ok: false, reason: 'the relay loop has stopped', relay: 'stopped' });
    health.close();
  });

  it('answers within the timeout when the database does not answer', async () => {
    const { relay, setRunning } = fakeRelay();
    setRunning(true);
    const health = createRelayHealth(relay, { db: fakeDb().db, windowMs: 60_000, timeoutMs: 20 });
    expect(await health.readiness()).toMatchObject({ ok: false, reason: 'database unreachable: the database did not answer within 20 ms' });
  });
});

describe('status cache', () => {
  it('reads once for concurrent callers and reuses a fresh read', async () => {
    const { db, pending, answerAll } = fakeDb();
    const cache = createStatusCache({ db, schema: 'postbox', maxAgeMs: 60_000, timeoutMs: 1_000 });
    const reads = [cache.read(), cache.read(), cache.read()];
    await answerAll();
    const [a, b, c] = await Promise.all(reads);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(await cache.read()).toBe(a);
    expect(pending).toHaveLength(0);
  });
});

describe('createRelayMetrics', () => {
  it('refuses a registry that already has its metrics, and removes them on close', () => {
    const { relay } = fakeRelay();
    const first = createRelayMetrics(relay, { pool: fakeDb().db });
    expect(() => createRelayMetrics(relay, { pool: fakeDb().db, registry: first.registry })).toThrow(/already has a metric postbox_messages_published_total/);
    const other = createRelayMetrics(relay, { pool: fakeDb().db, registry: first.registry, prefix: 'second_' });
    other.close();
    first.close();
    expect(first.registry.getMetricsAsArray()).toEqual([]);
  });

  it('counts what chunk-published and the message events report', async () => {
    const { relay, events } = fakeRelay();
    const metrics = createRelayMetrics(relay, { pool: fakeDb().db, statusMaxAgeMs: 60_000 });
    events.emit('relay:chunk-published', {
      transport: 'memory',
      size: 4,
      durationMs: 12,
      topics: [
        { topic: 'a', published: 2, failures: {}, lagsMs: [5, 7] },
        { topic: 'b', published: 0, failures: { POSTBOX_NACKED: 1, unknown: 1 }, lagsMs: [] },
      ],
    });
    events.emit('message:retry-scheduled', { id: '1', topic: 'b', key: null, attempt: 1, delayMs: 10, error: 'x' });
    events.emit('message:dead-lettered', { id: '2', topic: 'b', key: null, attempt: 1, reason: 'permanent-error', error: 'x' });
    const [published, failures, retried, dead, lag] = await Promise.all(
      ['messages_published_total', 'publish_failures_total', 'messages_retried_total', 'messages_dead_lettered_total', 'delivery_lag_seconds'].map(
        (name) => metrics.registry.getSingleMetric(`postbox_${name}`)!.get(),
      ),
    );
    expect(published?.values).toEqual([{ labels: { topic: 'a' }, value: 2 }]);
    expect(failures?.values).toEqual([
      { labels: { topic: 'b', code: 'POSTBOX_NACKED' }, value: 1 },
      { labels: { topic: 'b', code: 'unknown' }, value: 1 },
    ]);
    expect(retried?.values).toEqual([{ labels: { topic: 'b' }, value: 1 }]);
    expect(dead?.values).toEqual([{ labels: { topic: 'b', reason: 'permanent-error' }, value: 1 }]);
    expect(lag?.values.find((v) => (v as { metricName?: string }).metricName === 'postbox_delivery_lag_seconds_count')?.value).toBe(2);
    metrics.close();
    events.emit('message:retry-scheduled', { id: '1', topic: 'b', key: null, attempt: 1, delayMs: 10, error: 'x' }); // unsubscribed: no throw
  });
});
