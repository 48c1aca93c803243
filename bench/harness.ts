/**
 * The shared part of every relay benchmark: for a target broker, in one run,
 *  - its raw client publishing N messages (the reference: same messages, same destination),
 *  - the postbox relay draining a backlog of N outbox rows to that destination,
 *  in BENCH_ROUNDS rounds of (raw, relay) after a warm-up, pausing after each reset so the broker's
 *  background work does not land on the next measurement; the ratio is mean relay / mean raw,
 *  so drift during the run affects both sides alike;
 *  - commit-to-confirm latency at a fixed offered load (one message per producer transaction,
 *    relay in the same process).
 * Prints a line per measurement (with the CPU time this process spent per message: raw client and
 * relay run in it, the services do not) and a JSON summary as the last line.
 *
 * Settings (env): BENCH_MESSAGES (200000), BENCH_ROUNDS (2), BENCH_RATE (1000 msg/s),
 * BENCH_SECONDS (10), DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createOutbox, createRelay, migrate, silentLogger, withTransaction, type Transport } from '../src/index.js';
import { isConnectable } from '../src/transport.js';
import { redactUrl } from '../src/redact.js';
import { env, line, percentile, rate, round, samplePayload } from './stats.js';

export interface BenchTarget {
  readonly name: string;
  /** Describes the reference, e.g. "amqplib, pipelined confirms, window 2000". */
  readonly reference: string;
  /** The postbox topic the relay publishes (routed by the target's transport). */
  readonly topic: string;
  setup(): Promise<BenchDestination>;
}

export interface BenchDestination {
  /** Publishes `count` messages with the raw client to the destination; returns msg/s. */
  rawPublish(count: number): Promise<number>;
  /** A fresh transport to the same destination. */
  transport(): Transport;
  /** Empties the destination between measurements. */
  reset(): Promise<void>;
  teardown(): Promise<void>;
}

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = env('BENCH_MESSAGES', 200_000);
const ROUNDS = env('BENCH_ROUNDS', 2);
const LOAD_RATE = env('BENCH_RATE', 1000);
const LOAD_SECONDS = env('BENCH_SECONDS', 10);
const SETTLE_MS = 3_000;

export function runBenchmark(target: BenchTarget): void {
  main(target).catch((error: unknown) => {
    process.stderr.write(`benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
}

async function main(target: BenchTarget): Promise<void> {
  line(`postbox benchmark: ${target.name}`, `${N} messages; reference: ${target.reference}`);
  line('database', redactUrl(DATABASE_URL));
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 });
  await migrate(pool, { schema });
  const destination = await target.setup();
  const settle = async (): Promise<void> => {
    await destination.reset();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  };
  try {
    await destination.rawPublish(Math.min(N, 20_000));
    await settle();
    const raws: number[] = [];
    const relays: number[] = [];
    const rawCpus: number[] = [];
    const relayCpus: number[] = [];
    for (let index = 1; index <= ROUNDS; index++) {
      const rawCpu = process.cpuUsage();
      raws.push(await destination.rawPublish(N));
      rawCpus.push(cpuPerMessage(rawCpu, N));
      line(`round ${index}: raw client`, `${raws.at(-1)} msg/s (${rawCpus.at(-1)} µs CPU per message)`);
      await settle();
      const drained = await relayDrain(pool, schema, target.topic, destination, N);
      relays.push(drained.rate);
      relayCpus.push(drained.cpuMicros);
      line(
        `round ${index}: postbox relay draining ${N}`,
        `${drained.rate} msg/s (${drained.cpuMicros} µs CPU per message; backlog written at ${drained.enqueueRate} msg/s)`,
      );
      await settle();
    }
    const mean = (values: number[]): number => round(values.reduce((a, b) => a + b, 0) / values.length);
    const raw = mean(raws);
    const relayRate = mean(relays);
    const ratio = round(relayRate / raw, 3);
    line('relay / raw (means)', `${relayRate} / ${raw} = ${ratio} (target >= 0.9)`);

    const latency = await commitToConfirm(pool, schema, target.topic, destination);
    line(
      `commit-to-confirm at ${LOAD_RATE} msg/s offered`,
      `p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms (${latency.count} messages, achieved ${latency.achievedRate} msg/s)`,
    );
    process.stdout.write(
      `${JSON.stringify({
        benchmark: target.name,
        messages: N,
        rawRate: raw,
        rawRates: raws,
        relayRate,
        relayRates: relays,
        cpuMicrosPerMessage: { raw: rawCpus, relay: relayCpus },
        ratio,
        latency: { offeredRate: LOAD_RATE, p50Ms: latency.p50, p99Ms: latency.p99, maxMs: latency.max, count: latency.count },
      })}\n`,
    );
  } finally {
    await destination.teardown().catch(() => undefined);
    await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await pool.end();
  }
}

/** This process's CPU time (user + system, all its threads) since `since`, per message, in µs. */
function cpuPerMessage(since: NodeJS.CpuUsage, count: number): number {
  const used = process.cpuUsage(since);
  return round((used.user + used.system) / count, 1);
}

async function relayDrain(
  pool: pg.Pool,
  schema: string,
  topic: string,
  destination: BenchDestination,
  count: number,
): Promise<{ rate: number; enqueueRate: number; cpuMicros: number }> {
  const outbox = createOutbox({ schema });
  const enqueueStarted = performance.now();
  for (let i = 0; i < count; i += 1000) {
    const messages = [];
    for (let j = i; j < Math.min(count, i + 1000); j++) messages.push({ topic, key: `order-${j}`, payload: samplePayload(j) });
    await outbox.enqueue(pool, messages);
  }
  const enqueueRate = rate(count, performance.now() - enqueueStarted);
  await pool.query(`VACUUM ANALYZE ${schema}.outbox`);
  // Write the backlog's dirty pages now: that I/O belongs to building the backlog, not to
  // draining it, and would otherwise compete with the broker's fsyncs during the measurement.
  // (Needs a superuser or pg_checkpoint; without it the drain just carries that extra I/O.)
  await pool.query('CHECKPOINT').catch(() => line('note', 'CHECKPOINT not permitted; the drain also pays for writing the backlog'));
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

  const transport = destination.transport();
  if (isConnectable(transport)) await transport.connect();
  const relay = createRelay({ pool, transport, schema, logger: silentLogger, maxPollIntervalMs: 50 });
  let published = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  relay.on('relay:batch-settled', (batch) => {
    published += batch.published;
    if (published >= count) done();
  });
  const started = performance.now();
  const cpu = process.cpuUsage();
  await relay.start();
  await finished;
  const elapsed = performance.now() - started;
  const cpuMicros = cpuPerMessage(cpu, count);
  await relay.stop();
  await transport.close();
  return { rate: rate(count, elapsed), enqueueRate, cpuMicros };
}

/** A producer commits one message per transaction at a fixed rate; the relay runs in the same process. */
async function commitToConfirm(
  pool: pg.Pool,
  schema: string,
  topic: string,
  destination: BenchDestination,
): Promise<{ p50: number; p99: number; max: number; count: number; achievedRate: number }> {
  const outbox = createOutbox({ schema });
  const committedAt = new Map<string, number>();
  const latencies: number[] = [];
  const inner = destination.transport();
  if (isConnectable(inner)) await inner.connect();
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
  const relay = createRelay({ pool, transport: timed, schema, logger: silentLogger });
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
      withTransaction(pool, (tx) => outbox.enqueue(tx, { topic, key: `load-${i % 100}`, payload: samplePayload(i) })).then((id) => {
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
