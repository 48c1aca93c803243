/**
 * Pieces the end-to-end tests of every transport share: the per-test cleanup list, the effects
 * table a handler writes through the inbox transaction, a relay on a claim-counting pool, and
 * "the relay is idle" (the outbox is empty and two more claims found nothing).
 */
import type pg from 'pg';
import { afterEach, expect } from 'vitest';
import type { ConsumedMessage, Handler } from '../../src/consumer/types.js';
import { withTransaction } from '../../src/db/queryable.js';
import { silentLogger } from '../../src/logger.js';
import { Header } from '../../src/message.js';
import type { Outbox } from '../../src/outbox/enqueue.js';
import type { RelayOptions } from '../../src/relay/options.js';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import type { Transport } from '../../src/transport.js';
import { claimCountingPool, FAST_POLICY, FAST_RELAY, interleaved, produce, rowCount } from '../integration/fixtures/rabbitmq-kit.js';
import { waitFor } from './wait.js';

export type Cleanup = () => Promise<unknown> | unknown;

/**
 * The cleanups of a test file: undone after each test, last first, between `before` and `after`
 * (e.g. killing child processes first, deleting broker objects last).
 */
export function useCleanups(around: { before?: () => Promise<unknown>; after?: () => Promise<unknown> | undefined } = {}): Cleanup[] {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    await around.before?.();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await around.after?.();
  });
  return cleanups;
}

/** Creates `schema`.effects (message_id, plus `extraColumns`), one row per applied side effect. */
export async function createEffectsTable(pool: pg.Pool, schema: string, extraColumns = ''): Promise<void> {
  await pool.query(`CREATE TABLE "${schema}".effects (message_id text NOT NULL${extraColumns})`);
}

/** The message ids in `schema`.effects, sorted. */
export async function readEffects(pool: pg.Pool, schema: string): Promise<string[]> {
  const { rows } = await pool.query(`SELECT message_id FROM "${schema}".effects ORDER BY message_id`);
  return rows.map((r: { message_id: string }) => r.message_id);
}

/** A handler that records the side effect of each message in the effects table, through the inbox transaction. */
export function recordEffect(schema: string): Handler {
  return async (m, context) => {
    await context.tx!.query(`INSERT INTO "${schema}".effects (message_id) VALUES ($1)`, [m.id]);
  };
}

/** As recordEffect, with the { key, n } of the payload (effects table made with KEYED_EFFECT_COLUMNS). */
export const KEYED_EFFECT_COLUMNS = ', key text NOT NULL, n integer NOT NULL';
export function recordKeyedEffect(schema: string): Handler {
  return async (m, context) => {
    const { key, n } = m.json<{ key: string; n: number }>();
    await context.tx!.query(`INSERT INTO "${schema}".effects (message_id, key, n) VALUES ($1, $2, $3)`, [m.id, key, n]);
  };
}

/**
 * A started relay for an end-to-end test, on a pool that counts its claims: fast polling, lease
 * 5 s, FAST_POLICY unless `options` say otherwise. Stopped by `cleanups`.
 */
export async function startCountedRelay(
  pool: pg.Pool,
  schema: string,
  transport: Transport,
  cleanups: Cleanup[],
  options: Partial<RelayOptions> = {},
  beforeStart: (relay: Relay) => void = () => undefined,
): Promise<{ relay: Relay; claims(): number }> {
  const counting = claimCountingPool(pool);
  const relay = createRelay({
    pool: counting.pool,
    schema,
    transport,
    logger: silentLogger,
    leaseMs: 5_000,
    policies: FAST_POLICY,
    ...FAST_RELAY,
    ...options,
  });
  beforeStart(relay);
  await relay.start();
  cleanups.push(() => relay.stop({ timeoutMs: 1_000 }));
  return { relay, claims: counting.claims };
}

/** Resolves once the outbox is empty and the relay has started two more claims: it found nothing left. */
export async function waitForRelayIdle(pool: pg.Pool, schema: string, claims: () => number): Promise<void> {
  await waitFor('the outbox to be empty', async () => (await rowCount(pool, schema, 'outbox')) === 0);
  const seen = claims();
  await waitFor('two more (empty) claims', () => claims() >= seen + 2);
}

/** waitForRelayIdle, then checks that the outbox is still empty. */
export async function relayIdle(pool: pg.Pool, schema: string, claims: () => number): Promise<void> {
  await waitForRelayIdle(pool, schema, claims);
  expect(await rowCount(pool, schema, 'outbox')).toBe(0);
}

/** The message the "delivers a committed message" tests enqueue: payload, key, headers and correlation id to check. */
export const ORDER_CREATED = {
  topic: 'events.order.created',
  key: 'order-7',
  payload: { orderId: 7, total: '19.90', lines: [{ sku: 'a-1', qty: 2 }], note: 'zażółć' },
  headers: { 'x-tenant': 'acme', 'x-trace': 'trace-1' },
  correlationId: 'corr-7',
};

/** `m` is ORDER_CREATED, enqueued as `id`, on its first attempt, with its headers (and `moreHeaders`, per transport). */
export function expectOrderCreated(m: ConsumedMessage | undefined, id: string, moreHeaders: Record<string, string> = {}): void {
  expect(m).toMatchObject({
    id,
    topic: 'events.order.created',
    key: 'order-7',
    contentType: 'application/json',
    correlationId: 'corr-7',
    replyTo: null,
    attempt: 1,
  });
  expect(m!.json()).toEqual(ORDER_CREATED.payload);
  expect(m!.headers).toMatchObject({
    'x-tenant': 'acme',
    'x-trace': 'trace-1',
    [Header.MessageId]: id,
    [Header.Topic]: 'events.order.created',
    [Header.Key]: 'order-7',
    [Header.PublishAttempt]: '1',
    ...moreHeaders,
  });
}

/** Enqueues message A (events.rollback) in a transaction that then fails: returns the id A had, never committed. */
export async function enqueueRolledBack(pool: pg.Pool, outbox: Outbox): Promise<string> {
  let rolledBack: string | undefined;
  await expect(
    withTransaction(pool, async (tx) => {
      rolledBack = await outbox.enqueue(tx, { topic: 'events.rollback', key: 'rb', payload: { name: 'A' } });
      throw new Error('the business logic failed after enqueue');
    }),
  ).rejects.toThrow('the business logic failed');
  expect(rolledBack).toMatch(/^[0-9a-f-]{36}$/);
  return rolledBack!;
}

/** No row with `id` in any of `tables`. */
export async function expectNoRows(pool: pg.Pool, schema: string, id: string | undefined, tables: readonly string[]): Promise<void> {
  for (const table of tables) expect(await rowCount(pool, schema, table, 'id = $1', [id])).toBe(0);
}

/** interleaved(keys, perKey) as messages of `topic` with payload { key, n }. */
export function keyedMessages(keys: number, perKey: number, topic: string): Array<{ topic: string; key: string; payload: { key: string; n: number } }> {
  return interleaved(keys, perKey, 'key').map(({ key, n }) => ({ topic, key, payload: { key, n } }));
}

/** produce(), stopped (instead of waiting on a consumer forever) once the test's cleanups run. */
export function produceDuringTest<M>(
  cleanups: Cleanup[],
  messages: readonly M[],
  options: Omit<Parameters<typeof produce<M>>[1], 'stopped'>,
): Promise<string[]> {
  let testOver = false;
  cleanups.push(() => (testOver = true));
  return produce(messages, { ...options, stopped: () => testOver });
}

/** Waits until every message of `ids` was delivered, the outbox is empty and the inbox holds every effect. */
export async function waitForEveryEffect(pool: pg.Pool, schema: string, ids: readonly string[], delivered: ReadonlySet<string>): Promise<void> {
  await waitFor(`all ${ids.length} messages to be delivered`, () => ids.every((id) => delivered.has(id)), { timeoutMs: 40_000, intervalMs: 50 });
  await waitFor('the outbox to be empty', async () => (await rowCount(pool, schema, 'outbox')) === 0);
  await waitFor('every effect to be committed', async () => (await rowCount(pool, schema, 'inbox')) === ids.length);
}
