/**
 * npm run bench -- rabbitmq
 *
 * Measures, in one run and on the same queue:
 *  - the raw amqplib confirm channel publishing N messages pipelined (window W), the reference:
 *    same messages, properties, headers and destination as the relay's;
 *  - the postbox relay draining a backlog of N outbox rows (window W too) to that destination;
 *  in BENCH_ROUNDS rounds of (raw, relay), after a warm-up, pausing after each purge so the
 *  broker's background work does not land on the next measurement. The ratio is the mean relay
 *  rate over the mean raw rate, so drift during the run affects both sides alike.
 *  - commit-to-confirm latency at a fixed offered load (one message per producer transaction).
 * Prints a JSON summary as the last line.
 *
 * Settings (env): BENCH_MESSAGES (200000), BENCH_WINDOW (2000), BENCH_BATCH (500),
 * BENCH_ROUNDS (2), BENCH_RATE (1000 msg/s), BENCH_SECONDS (10), DATABASE_URL, POSTBOX_RABBITMQ_URL.
 */
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import pg from 'pg';
import { createOutbox, createRelay, migrate, silentLogger, withTransaction, type Transport } from '../src/index.js';
import { createRabbitMQTransport } from '../adapters/rabbitmq/index.js';
import { redactUrl } from '../src/redact.js';
import { env, line, percentile, rate, round, samplePayload } from './stats.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RABBITMQ_URL = process.env.POSTBOX_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const N = env('BENCH_MESSAGES', 200_000);
const WINDOW = env('BENCH_WINDOW', 2000);
const BATCH = env('BENCH_BATCH', 500);
const LOAD_RATE = env('BENCH_RATE', 1000);
const LOAD_SECONDS = env('BENCH_SECONDS', 10);
const ROUNDS = env('BENCH_ROUNDS', 2);
const SETTLE_MS = 3_000;
const TOPIC = 'bench.order-placed';
const ROUTING_KEY = 'bench';

const suffix = randomBytes(4).toString('hex');
const schema = `bench_${suffix}`;
const exchange = `postbox-bench-${suffix}`;
const queue = `postbox-bench-${suffix}`;

async function main(): Promise<void> {
  line('postbox benchmark: RabbitMQ', `${N} messages, raw window ${WINDOW}, relay batch ${BATCH}`);
  line('database / broker', `${redactUrl(DATABASE_URL)} / ${redactUrl(RABBITMQ_URL)}`);
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
  const admin = await amqp.connect(RABBITMQ_URL);
  const adminChannel = await admin.createChannel();
  await adminChannel.assertExchange(exchange, 'direct', { durable: true });
  await adminChannel.assertQueue(queue, { durable: true });
  await adminChannel.bindQueue(queue, exchange, ROUTING_KEY);
  await migrate(pool, { schema });
  const settle = async (): Promise<void> => {
    await adminChannel.purgeQueue(queue);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  };
  try {
    await rawPublish(Math.min(N, 20_000));
    await settle();
    const raws: number[] = [];
    const relays: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      raws.push(await rawPublish(N));
      line(`round ${round}: raw amqplib, pipelined confirms`, `${raws.at(-1)} msg/s`);
      await settle();
      const drained = await relayDrain(pool, N);
      relays.push(drained.rate);
      line(`round ${round}: postbox relay draining ${N}`, `${drained.rate} msg/s (backlog written at ${drained.enqueueRate} msg/s)`);
      await settle();
    }
    const mean = (values: number[]): number => round(values.reduce((a, b) => a + b, 0) / values.length);
    const raw = mean(raws);
    const relayRate = mean(relays);
    const ratio = round(relayRate / raw, 3);
    line('relay / raw (means)', `${relayRate} / ${raw} = ${ratio} (target >= 0.9)`);

    const latency = await commitToConfirm(pool);
    line(`commit-to-confirm at ${LOAD_RATE} msg/s offered`, `p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms (${latency.count} messages, achieved ${latency.achievedRate} msg/s)`);
    await adminChannel.purgeQueue(queue);

    process.stdout.write(
      `${JSON.stringify({
        benchmark: 'rabbitmq',
        messages: N,
        rawRate: raw,
        rawRates: raws,
        relayRate,
        relayRates: relays,
        ratio,
        latency: { offeredRate: LOAD_RATE, p50Ms: latency.p50, p99Ms: latency.p99, maxMs: latency.max, count: latency.count },
      })}\n`,
    );
  } finally {
    await adminChannel.deleteQueue(queue).catch(() => undefined);
    await adminChannel.deleteExchange(exchange).catch(() => undefined);
    await admin.close().catch(() => undefined);
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pool.end();
  }
}

/** The reference: what amqplib alone does with the same messages, properties and destination. */
async function rawPublish(count: number): Promise<number> {
  const connection = await amqp.connect(RABBITMQ_URL);
  const channel = await connection.createConfirmChannel();
  let returned = 0;
  channel.on('return', () => returned++);
  const started = performance.now();
  let inFlight = 0;
  let confirmed = 0;
  let failed = 0;
  let wake: (() => void) | undefined;
  const settle = (error: unknown): void => {
    inFlight--;
    confirmed++;
    if (error) failed++;
    wake?.();
  };
  for (let i = 0; i < count; i++) {
    while (inFlight >= WINDOW) await new Promise<void>((resolve) => (wake = resolve));
    const id = randomBytes(16).toString('hex');
    const body = Buffer.from(JSON.stringify(samplePayload(i)));
    inFlight++;
    const ok = channel.publish(
      exchange,
      ROUTING_KEY,
      body,
      {
        persistent: true,
        mandatory: true,
        messageId: id,
        contentType: 'application/json',
        timestamp: Math.floor(Date.now() / 1000),
        type: TOPIC,
        headers: { 'postbox-message-id': id, 'postbox-topic': TOPIC, 'postbox-publish-attempt': '1', 'postbox-created-at': new Date().toISOString() },
      },
      settle,
    );
    if (!ok) await new Promise<void>((resolve) => channel.once('drain', () => resolve()));
  }
  while (confirmed < count) await new Promise<void>((resolve) => (wake = resolve));
  const elapsed = performance.now() - started;
  await connection.close();
  if (failed > 0 || returned > 0) throw new Error(`raw publish: ${failed} nacked, ${returned} returned`);
  return rate(count, elapsed);
}

function benchTransport(): Transport {
  return createRabbitMQTransport({
    url: RABBITMQ_URL,
    routes: { [TOPIC]: { exchange, routingKey: ROUTING_KEY } },
    topology: { exchanges: [{ name: exchange, type: 'direct' }] },
  });
}

async function relayDrain(pool: pg.Pool, count: number): Promise<{ rate: number; enqueueRate: number }> {
  const outbox = createOutbox({ schema });
  const enqueueStarted = performance.now();
  for (let i = 0; i < count; i += 1000) {
    const messages = [];
    for (let j = i; j < Math.min(count, i + 1000); j++) messages.push({ topic: TOPIC, key: `order-${j}`, payload: samplePayload(j) });
    await outbox.enqueue(pool, messages);
  }
  const enqueueRate = rate(count, performance.now() - enqueueStarted);
  await pool.query(`VACUUM ANALYZE ${schema}.outbox`);
  // Write the backlog's dirty pages now: that I/O belongs to building the backlog, not to
  // draining it, and would otherwise compete with the broker's fsyncs during the measurement.
  // (Needs a superuser or pg_checkpoint; without it the drain just carries that extra I/O.)
  await pool.query('CHECKPOINT').catch(() => line('note', 'CHECKPOINT not permitted; the drain also pays for writing the backlog'));
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

  const transport = benchTransport();
  await (transport as Transport & { connect(): Promise<void> }).connect();
  const relay = createRelay({ pool, transport, schema, batchSize: BATCH, publishWindow: WINDOW, logger: silentLogger, maxPollIntervalMs: 50 });
  let published = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  relay.on('relay:batch-settled', (batch) => {
    published += batch.published;
    if (published >= count) done();
  });
  const started = performance.now();
  await relay.start();
  await finished;
  const elapsed = performance.now() - started;
  await relay.stop();
  await transport.close();
  return { rate: rate(count, elapsed), enqueueRate };
}

/** A producer commits one message per transaction at a fixed rate; the relay runs in the same process. */
async function commitToConfirm(pool: pg.Pool): Promise<{ p50: number; p99: number; max: number; count: number; achievedRate: number }> {
  const outbox = createOutbox({ schema });
  const committedAt = new Map<string, number>();
  const latencies: number[] = [];
  const inner = benchTransport();
  const timed: Transport = {
    name: inner.name,
    async publish(batch, options) {
      const results = await inner.publish(batch, options);
      const now = performance.now();
      batch.forEach((message, i) => {
        const committed = committedAt.get(message.id);
        if (results[i]?.ok && committed !== undefined) latencies.push(now - committed);
      });
      return results;
    },
    close: () => inner.close(),
  };
  const relay = createRelay({ pool, transport: timed, schema, batchSize: BATCH, logger: silentLogger });
  await relay.start();
  const total = Math.round(LOAD_RATE * LOAD_SECONDS);
  const intervalMs = 1000 / LOAD_RATE;
  const started = performance.now();
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = started + i * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(
      withTransaction(pool, (tx) => outbox.enqueue(tx, { topic: TOPIC, key: `load-${i % 100}`, payload: samplePayload(i) })).then((id) => {
        committedAt.set(id, performance.now());
      }),
    );
    if (pending.length >= 8) await Promise.race(pending.splice(0, 1));
  }
  await Promise.all(pending);
  const achievedRate = rate(total, performance.now() - started);
  const deadline = Date.now() + 30_000;
  while (latencies.length < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await relay.stop();
  await timed.close();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    p50: round(percentile(sorted, 50), 1),
    p99: round(percentile(sorted, 99), 1),
    max: round(sorted.at(-1) ?? Number.NaN, 1),
    count: sorted.length,
    achievedRate,
  };
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
