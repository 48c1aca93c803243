/**
 * The relay's Prometheus endpoint against real PostgreSQL and RabbitMQ: a known set of outcomes
 * (messages published on two topics, a topic routed to a missing exchange that fails, is retried
 * once and dead-lettered, messages scheduled for later), scraped over HTTP: exact counters per
 * topic, the outbox gauges, histogram counts; /healthz and /readyz, which turn 503 when the relay
 * stops and while its database is cut off (a TCP proxy in front of PostgreSQL).
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRabbitMQConnection, createRabbitMQTransport } from '../../adapters/rabbitmq/index.js';
import { withTransaction } from '../../src/db/queryable.js';
import { startMetricsServer, type MetricsServer } from '../../src/metrics/index.js';
import { silentLogger } from '../../src/logger.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import { useDatabase } from '../helpers/db.js';
import { startCountedRelay, useCleanups, waitForRelayIdle } from '../helpers/e2e.js';
import { DATABASE_URL } from '../helpers/services.js';
import { waitFor } from '../helpers/wait.js';
import { createAdmin, RABBITMQ_URL, randomName, type Admin } from '../conformance/rabbitmq-tools.js';
import { FAST_POLICY, FAST_RELAY, rowCount } from './fixtures/rabbitmq-kit.js';

const { pool, freshSchema } = useDatabase();

let admin: Admin;
beforeAll(async () => {
  admin = await createAdmin();
});
afterAll(async () => {
  await admin.close();
});
const cleanups = useCleanups({ after: () => admin.cleanup() });

/** Two attempts for lost.#, 10 ms apart; FAST_POLICY for the rest. */
const POLICIES = { ...FAST_POLICY, topics: { 'lost.#': { maxAttempts: 2, backoff: { initialMs: 10, maxMs: 10, jitter: 'none' as const } } } };

/** events.# to an exchange with a bound queue; lost.# to an exchange that does not exist. */
function rabbitTransport(url = RABBITMQ_URL) {
  return rabbitSetup(url).transport;
}

function rabbitSetup(url: string) {
  const exchange = randomName('metrics-x');
  const queue = randomName('metrics-q');
  admin.track('exchange', exchange);
  admin.track('queue', queue);
  const connection = createRabbitMQConnection({
    url,
    connectionName: randomName('metrics'),
    reconnect: { initialMs: 20, maxMs: 100 },
    topology: {
      exchanges: [{ name: exchange, type: 'topic', durable: false }],
      queues: [{ name: queue, durable: false, bindings: [{ exchange, pattern: 'events.#' }] }],
    },
  });
  cleanups.push(() => connection.close());
  const transport = createRabbitMQTransport({
    connection,
    routes: { 'events.#': { exchange }, 'lost.#': { exchange: randomName('metrics-missing') } },
  });
  cleanups.push(() => transport.close());
  return { transport, connection };
}

async function serve(options: { relay: Relay; pool: pg.Pool; schema: string }): Promise<MetricsServer & { get(path: string): Promise<{ status: number; body: string }> }> {
  const server = await startMetricsServer({ ...options, port: 0, host: '127.0.0.1', statusMaxAgeMs: 0 });
  cleanups.push(() => server.close());
  return {
    ...server,
    async get(path) {
      const response = await fetch(`http://127.0.0.1:${server.port}${path}`);
      return { status: response.status, body: await response.text() };
    },
  };
}

/** The samples of a Prometheus text exposition: `name{labels}` -> value. */
function samples(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

describe('relay metrics and health endpoints', () => {
  it('counts published, failed, retried and dead-lettered messages per topic, reads the outbox gauges, and reports health', async () => {
    const schema = await freshSchema();
    const outbox = createOutbox({ schema });
    const { relay, claims } = await startCountedRelay(pool, schema, rabbitTransport(), cleanups, { policies: POLICIES });
    const server = await serve({ relay, pool, schema });

    const later = new Date(Date.now() + 3_600_000);
    await withTransaction(pool, (tx) =>
      outbox.enqueue(tx, [
        ...Array.from({ length: 5 }, (_, n) => ({ topic: 'events.a', payload: { n } })),
        ...Array.from({ length: 3 }, (_, n) => ({ topic: 'events.b', key: `b-${n}`, payload: { n } })),
        ...Array.from({ length: 2 }, (_, n) => ({ topic: 'lost.x', payload: { n } })),
        ...Array.from({ length: 4 }, (_, n) => ({ topic: 'events.later', payload: { n }, deliverAt: later })),
      ]),
    );
    await waitFor('both lost.x messages to be dead-lettered', async () => (await rowCount(pool, schema, 'dead_letters')) === 2);
    await waitFor('only the scheduled messages to remain', async () => (await rowCount(pool, schema, 'outbox')) === 4);
    const seen = claims();
    await waitFor('two more (empty) claims', () => claims() >= seen + 2);

    const scrape = await server.get('/metrics');
    expect(scrape.status).toBe(200);
    const m = samples(scrape.body);
    const expected: Record<string, number> = {
      'postbox_messages_published_total{topic="events.a"}': 5,
      'postbox_messages_published_total{topic="events.b"}': 3,
      'postbox_publish_failures_total{topic="lost.x",code="POSTBOX_DESTINATION_NOT_FOUND"}': 4,
      'postbox_messages_retried_total{topic="lost.x"}': 2,
      'postbox_messages_dead_lettered_total{topic="lost.x",reason="unroutable"}': 2,
      'postbox_pending_messages{state="ready"}': 0,
      'postbox_pending_messages{state="scheduled"}': 4,
      'postbox_pending_messages{state="retrying"}': 0,
      'postbox_pending_messages{state="in_flight"}': 0,
      'postbox_topic_pending_messages{topic="events.later",state="scheduled"}': 4,
      postbox_oldest_pending_age_seconds: 0,
      postbox_dead_letters: 2,
      postbox_delivery_lag_seconds_count: 8,
      // Each message is claimed once per attempt: 10 at first, then the two lost.x again.
      postbox_batch_size_sum: 12,
      postbox_relay_up: 1,
      postbox_relay_transport_available: 1,
      postbox_relay_database_reachable: 1,
    };
    for (const [name, value] of Object.entries(expected)) expect([name, m.get(name)]).toEqual([name, value]);
    expect([...m.keys()].filter((name) => name.startsWith('postbox_messages_published_total'))).toHaveLength(2);
    expect([...m.keys()].filter((name) => name.startsWith('postbox_topic_pending_messages'))).toHaveLength(1);
    // Every publish call is timed: at least one per attempt of the lost.x messages.
    const chunks = m.get('postbox_publish_duration_seconds_count') ?? 0;
    expect(chunks).toBeGreaterThanOrEqual(2);
    expect(m.get('postbox_publish_duration_seconds_bucket{le="+Inf"}')).toBe(chunks);
    expect(m.get('postbox_batch_size_count')).toBeGreaterThanOrEqual(2);

    expect(await server.get('/healthz')).toEqual({ status: 200, body: `${JSON.stringify({ ok: true, relay: 'running' })}\n` });
    const ready = await server.get('/readyz');
    expect([ready.status, JSON.parse(ready.body)]).toEqual([200, { ok: true, relay: 'running', transport: 'available', database: 'reachable' }]);
    expect((await server.get('/nothing')).status).toBe(404);

    await relay.stop();
    const notReady = await server.get('/readyz');
    expect([notReady.status, JSON.parse(notReady.body).reason]).toEqual([503, 'the relay has stopped']);
    expect((await server.get('/healthz')).status).toBe(503);
    expect(samples((await server.get('/metrics')).body).get('postbox_relay_up')).toBe(0);
  });

  it('is not ready while the database is unreachable, and ready again once it answers', async () => {
    const schema = await freshSchema();
    const proxy = await startTcpProxy(new URL(DATABASE_URL));
    cleanups.push(() => proxy.close());
    const url = new URL(DATABASE_URL);
    url.host = `127.0.0.1:${proxy.port}`;
    const proxied = new pg.Pool({ connectionString: url.toString(), max: 6 });
    proxied.on('error', () => undefined);
    cleanups.push(() => proxied.end());
    const { relay, claims } = await startCountedRelay(proxied, schema, rabbitTransport(), cleanups);
    const server = await serve({ relay, pool: proxied, schema });
    await waitForRelayIdle(pool, schema, claims);
    expect((await server.get('/readyz')).status).toBe(200);

    proxy.refuse();
    const down = await waitFor('/readyz to fail', async () => {
      const response = await server.get('/readyz');
      return response.status === 503 ? JSON.parse(response.body) : undefined;
    });
    expect(down).toMatchObject({ ok: false, relay: 'running', database: 'unreachable' });
    expect(down.reason).toMatch(/^database unreachable: /);
    expect((await server.get('/healthz')).status).toBe(200);
    expect(samples((await server.get('/metrics')).body).get('postbox_relay_database_reachable')).toBe(0);

    proxy.accept();
    await waitFor('/readyz to pass again', async () => (await server.get('/readyz')).status === 200);
  });

  it('is not ready while the broker was unreachable at start, and ready once a message gets through', async () => {
    const schema = await freshSchema();
    const proxy = await startTcpProxy(new URL(RABBITMQ_URL), 5672);
    cleanups.push(() => proxy.close());
    proxy.refuse();
    const url = new URL(RABBITMQ_URL);
    url.host = `127.0.0.1:${proxy.port}`;
    const { transport, connection } = rabbitSetup(url.toString());
    const relay = createRelay({ pool, schema, transport, logger: silentLogger, leaseMs: 5_000, policies: FAST_POLICY, ...FAST_RELAY });
    const server = await serve({ relay, pool, schema });
    await relay.start();
    cleanups.push(() => relay.stop({ timeoutMs: 1_000 }));

    const down = await server.get('/readyz');
    expect([down.status, JSON.parse(down.body).transport]).toEqual([503, 'unavailable']);
    expect(samples((await server.get('/metrics')).body).get('postbox_relay_transport_available')).toBe(0);

    // The broker is back before any message needs it: the relay's first publish succeeds.
    proxy.accept();
    await waitFor('the connection to come back in the background', () => connection.isConnected);
    await createOutbox({ schema }).enqueue(pool, { topic: 'events.back', payload: { n: 1 } });
    await waitFor('the message to be published', async () => (await rowCount(pool, schema, 'outbox')) === 0);
    const ready = await server.get('/readyz');
    expect([ready.status, JSON.parse(ready.body)]).toEqual([200, { ok: true, relay: 'running', transport: 'available', database: 'reachable' }]);
    expect(samples((await server.get('/metrics')).body).get('postbox_relay_transport_available')).toBe(1);
  });
});

/** A TCP proxy (to PostgreSQL, or RabbitMQ) that can drop every connection and refuse new ones. */
async function startTcpProxy(target: URL, defaultPort = 5432): Promise<{ port: number; refuse(): void; accept(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = net.connect(Number(target.port || defaultPort), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined).on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dropAll = (): void => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    refuse() {
      refusing = true;
      dropAll();
    },
    accept() {
      refusing = false;
    },
    async close() {
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
