/**
 * The proofs the crash, broker-loss and ordering tests of every transport share: how a relay
 * child is killed in the middle of a batch, what the relay felt of an outage, relays with injected
 * faults, and the checks that nothing was lost, each effect happened once and per-key order held.
 */
import type { ChildProcess } from 'node:child_process';
import type pg from 'pg';
import { expect } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import type { RelayOptions } from '../../src/relay/options.js';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import type { Transport } from '../../src/transport.js';
import { FAST_RELAY, interleaved, smallPool, type Delivery } from '../integration/fixtures/rabbitmq-kit.js';
import type { Cleanup } from './e2e.js';
import { seededRandom, withInjectedFaults } from './faults.js';
import { orderViolations } from './order.js';
import { RELAY_CHILD_APPLICATION } from '../integration/fixtures/relay-child-name.js';
import { waitFor } from './wait.js';

/** Ids of the outbox rows a relay holds a live lease on. */
export async function leasedIds(pool: pg.Pool, schema: string): Promise<string[]> {
  const { rows } = await pool.query(`SELECT o.id::text AS id FROM "${schema}".outbox o JOIN "${schema}".outbox_leases l ON l.seq = o.seq WHERE l.until > now()`);
  return rows.map((r: { id: string }) => r.id);
}

/** One kill of a relay child: rows the dead relay still held, and those of them the consumer had already received. */
export interface Kill {
  readonly leased: number;
  readonly sent: string[];
}

/** Kills that left a leased batch of which the consumer already had some messages. */
export const effectiveKills = (kills: readonly Kill[]): number => kills.filter((k) => k.sent.length > 0).length;

export const describeKills = (kills: readonly Kill[]): string => kills.map((k) => `${k.leased}/${k.sent.length}`).join(', ');

/**
 * Starts the relay child (`start(generation)`), then kills it with SIGKILL in the middle of a
 * batch and starts the next one, until `kills` kills hit a partly delivered batch or `maxKills`
 * were tried: the first after `firstKillAt` distinct deliveries, then every `killEvery` more.
 * Stops early when everything was delivered. Returns the kills and the relay running last.
 */
export async function killRelayMidBatch(options: {
  readonly pool: pg.Pool;
  readonly schema: string;
  readonly delivered: ReadonlySet<string>;
  readonly total: number;
  readonly produced: () => boolean;
  readonly start: (generation: number) => Promise<ChildProcess>;
  readonly kill: (child: ChildProcess, signal: NodeJS.Signals) => Promise<void>;
  readonly kills: number;
  readonly maxKills: number;
  readonly firstKillAt: number;
  readonly killEvery: number;
}): Promise<{ kills: Kill[]; relay: ChildProcess }> {
  const { pool, schema, delivered } = options;
  const kills: Kill[] = [];
  let generation = 0;
  let relay = await options.start(generation);
  let threshold = options.firstKillAt;
  while (effectiveKills(kills) < options.kills && kills.length < options.maxKills) {
    // Kill in the middle of a batch: the relay holds a lease on messages of which the consumer already received some.
    const moment = await waitFor(
      `a leased batch partly delivered, after ${threshold} messages`,
      async () => {
        if (options.produced() && delivered.size >= options.total) return 'too late';
        return delivered.size >= threshold && (await leasedIds(pool, schema)).some((id) => delivered.has(id)) ? 'now' : false;
      },
      { timeoutMs: 30_000, intervalMs: 1 },
    );
    if (moment === 'too late') break;
    await options.kill(relay, 'SIGKILL');
    // A statement the dead relay had sent still runs to its end (a settle that deletes published
    // rows): count the leases it left only once its sessions are gone.
    await waitFor('the killed relay\'s database sessions to end', async () => {
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [RELAY_CHILD_APPLICATION]);
      return rows[0].n === 0;
    });
    const leased = await leasedIds(pool, schema); // the dead relay was the only one
    kills.push({ leased: leased.length, sent: leased.filter((id) => delivered.has(id)) });
    threshold = delivered.size + options.killEvery;
    generation += 1;
    relay = await options.start(generation);
  }
  return { kills, relay };
}

/**
 * The crash path really ran: at least 3 kills left a leased batch of which the consumer already
 * had some messages (a kill that lost the race with the settle is just a restart); after the
 * lease expired the next relay published those batches again, so those messages arrived twice,
 * with publish attempt > 1 on the wire. Returns the ids delivered before a kill.
 */
export function expectKilledBatchesRedelivered(kills: readonly Kill[], log: { readonly all: readonly Delivery[]; duplicates(): number }): string[] {
  const orphaned = kills.reduce((sum, k) => sum + k.leased, 0);
  const sentBeforeKill = kills.flatMap((k) => k.sent);
  expect(effectiveKills(kills), `leased/delivered rows per kill: ${describeKills(kills)}`).toBeGreaterThanOrEqual(3);
  const deliveriesOf = new Map<string, number>();
  for (const d of log.all) deliveriesOf.set(d.id, (deliveriesOf.get(d.id) ?? 0) + 1);
  const notRepeated = sentBeforeKill.filter((id) => (deliveriesOf.get(id) ?? 0) < 2);
  expect(notRepeated, 'delivered before a kill, still leased by the dead relay, but not delivered again').toEqual([]);
  expect(log.all.filter((d) => d.publishAttempt > 1).length).toBeGreaterThanOrEqual(orphaned);
  expect(log.duplicates()).toBeGreaterThanOrEqual(sentBeforeKill.length);
  return sentBeforeKill;
}

/** Exactly-once effects: one row in `schema`.effects per message, no more. */
export async function expectEachEffectOnce(pool: pg.Pool, schema: string, ids: readonly string[]): Promise<void> {
  const { rows } = await pool.query(`SELECT count(*)::int AS total, count(DISTINCT message_id)::int AS distinct FROM "${schema}".effects`);
  expect(rows[0]).toEqual({ total: ids.length, distinct: ids.length });
}

/** No message of `ids` is without its row in `schema`.effects. */
export async function expectNoEffectMissing(pool: pg.Pool, schema: string, ids: readonly string[]): Promise<void> {
  const { rows: missing } = await pool.query(
    `SELECT count(*)::int AS n FROM unnest($1::text[]) AS m(id) WHERE NOT EXISTS (SELECT 1 FROM "${schema}".effects e WHERE e.message_id = m.id)`,
    [ids],
  );
  expect(missing[0].n).toBe(0);
}

/** First deliveries per key (payload { key, n }) came in commit order. */
export function expectKeyOrder(log: { readonly all: readonly Delivery[] }): void {
  const order = log.all.map((d) => d.payload as { key: string; n: number });
  expect(orderViolations(order).slice(0, 10)).toEqual([]);
}

/** What a relay felt of a broker outage, from its events. */
export interface RelayOutageLog {
  /** Messages published (settled as published). */
  readonly published: number;
  /** Batches put back because the transport was unavailable. */
  readonly unavailable: string[];
  /** Publishes that failed and were scheduled for retry (and, with `publishErrors`, relay errors in the publish phase). */
  readonly failedPublishes: string[];
  readonly deaths: string[];
  /** unavailable + failed publishes so far. */
  felt(): number;
}

/** Listens to `relay` (before it starts) for what RelayOutageLog holds. */
export function watchRelayOutages(relay: Relay, { publishErrors }: { readonly publishErrors: boolean }): RelayOutageLog {
  let published = 0;
  const unavailable: string[] = [];
  const failedPublishes: string[] = [];
  const deaths: string[] = [];
  relay.on('relay:batch-settled', (e) => (published += e.published));
  relay.on('relay:transport-unavailable', (e) => unavailable.push(e.error.message));
  relay.on('message:retry-scheduled', (e) => failedPublishes.push(e.error));
  if (publishErrors) relay.on('relay:error', (e) => e.phase === 'publish' && failedPublishes.push(e.error.message));
  relay.on('message:dead-lettered', (e) => deaths.push(`${e.id}: ${e.reason} ${e.error}`));
  return {
    get published() {
      return published;
    },
    unavailable,
    failedPublishes,
    deaths,
    felt: () => unavailable.length + failedPublishes.length,
  };
}

/**
 * A started relay that publishes a backlog through an outage: a small pool of its own
 * (`poolSize`), batches of 100, lease 10 s, fast polling, `policies`; watched from before it
 * starts. Stopped (and its pool ended) by `cleanups`.
 */
export async function startWatchedRelay(options: {
  readonly schema: string;
  readonly transport: Transport;
  readonly cleanups: Cleanup[];
  readonly poolSize: number;
  readonly policies: RelayOptions['policies'];
  readonly publishErrors: boolean;
}): Promise<RelayOutageLog> {
  const relayPool = smallPool(options.poolSize);
  options.cleanups.push(() => relayPool.end());
  const relay = createRelay({
    pool: relayPool,
    schema: options.schema,
    transport: options.transport,
    logger: silentLogger,
    batchSize: 100,
    leaseMs: 10_000,
    ...FAST_RELAY,
    policies: options.policies,
  });
  const outages = watchRelayOutages(relay, { publishErrors: options.publishErrors });
  await relay.start();
  options.cleanups.push(() => relay.stop({ timeoutMs: 2_000 }));
  return outages;
}

/**
 * `count` relays on one schema and a pool of their own, each with its own transport (`transport(r)`)
 * wrapped by withInjectedFaults (5 % failures before sending, 3 % after: lost acknowledgements),
 * retrying fast and practically forever. Stopped by `cleanups`.
 */
export async function startFaultyRelays(options: {
  readonly schema: string;
  readonly count: number;
  readonly cleanups: Cleanup[];
  readonly transport: (r: number) => Transport;
  readonly idPrefix: string;
}): Promise<{ claimedBy: number[]; deadEvents: string[]; injected(): { before: number; after: number } }> {
  const relayPool = smallPool(options.count * 4);
  options.cleanups.push(() => relayPool.end());
  const faulty: Array<ReturnType<typeof withInjectedFaults>> = [];
  const claimedBy: number[] = [];
  const deadEvents: string[] = [];
  for (let r = 0; r < options.count; r++) {
    const transport = withInjectedFaults(options.transport(r), { failBeforeSend: 0.05, failAfterSend: 0.03, seed: 7_000 + r });
    options.cleanups.push(() => transport.close());
    faulty.push(transport);
    const relay: Relay = createRelay({
      pool: relayPool,
      schema: options.schema,
      transport,
      id: `${options.idPrefix}-${r}`,
      logger: silentLogger,
      batchSize: 100,
      leaseMs: 15_000,
      ...FAST_RELAY,
      policies: { default: { maxAttempts: 1_000, backoff: { initialMs: 5, multiplier: 2, maxMs: 50, jitter: 'full' } } },
      random: seededRandom(9_000 + r),
    });
    claimedBy.push(0);
    relay.on('relay:batch-claimed', ({ size }) => (claimedBy[r]! += size));
    relay.on('message:dead-lettered', (e) => deadEvents.push(`${e.id}: ${e.reason} ${e.error}`));
    await relay.start();
    options.cleanups.push(() => relay.stop({ timeoutMs: 2_000 }));
  }
  return {
    claimedBy,
    deadEvents,
    injected: () => ({
      before: faulty.reduce((sum, t) => sum + t.injected.before, 0),
      after: faulty.reduce((sum, t) => sum + t.injected.after, 0),
    }),
  };
}

/** interleaved(keys, perKey) as messages of `topic` with payload { key, n }, keys in a shuffled (seeded) order per round. */
export function shuffledRounds(keys: number, perKey: number, topic: string): Array<{ topic: string; key: string; payload: { key: string; n: number } }> {
  const shuffle = seededRandom(42);
  const rounds = interleaved(keys, perKey, 'key');
  const messages = [];
  for (let round = 0; round < perKey; round++) {
    const slice = rounds.slice(round * keys, (round + 1) * keys);
    for (let i = slice.length - 1; i > 0; i--) {
      const j = Math.floor(shuffle() * (i + 1));
      [slice[i], slice[j]] = [slice[j]!, slice[i]!];
    }
    messages.push(...slice.map(({ key, n }) => ({ topic, key, payload: { key, n } })));
  }
  return messages;
}

/** Each (key, n) always arrived under the same id: a duplicate is a repeat of one message. */
export function expectOneIdPerMessage(deliveries: ReadonlyArray<{ id: string; key: string; n: number }>): void {
  const idOf = new Map<string, string>();
  const twoIds: string[] = [];
  for (const d of deliveries) {
    const label = `${d.key}#${d.n}`;
    if ((idOf.get(label) ?? d.id) !== d.id) twoIds.push(label);
    idOf.set(label, d.id);
  }
  expect(twoIds).toEqual([]);
}
