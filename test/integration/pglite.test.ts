/**
 * PGlite is a supported store: postbox's own SQL (migrations, enqueue, the relay's claim and
 * settle, dead letters, the inbox) runs on createPGlitePool() unchanged, and the pool's one-session
 * mutex keeps transactions apart without deadlocking the relay.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PGlite } from '@electric-sql/pglite';
import { createPGlitePool, PGLITE_SESSION_BUSY, type PGlitePool } from '../../adapters/pglite/index.js';
import { migrate, schemaVersion } from '../../src/db/migrate.js';
import { withTransaction } from '../../src/db/queryable.js';
import { ErrorCode } from '../../src/errors.js';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { silentLogger } from '../../src/logger.js';
import { createDeadLetters } from '../../src/outbox/dead-letters.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import { createInProcessBroker, type InProcessBroker } from '../../src/testing/index.js';
import { failed, type Transport } from '../../src/transport.js';
import { orderViolations } from '../helpers/order.js';
import { waitFor } from '../helpers/wait.js';

let db: PGlite;
let pool: PGlitePool;
let schemas = 0;
const relays: Relay[] = [];
const brokers: InProcessBroker[] = [];

beforeAll(async () => {
  db = new PGlite();
  pool = createPGlitePool(db);
  await pool.database();
});
afterEach(async () => {
  await Promise.all(relays.splice(0).map((relay) => relay.stop({ timeoutMs: 1_000 })));
  await Promise.all(brokers.splice(0).map((broker) => broker.close()));
});
afterAll(async () => {
  await db.close();
});

async function freshSchema(): Promise<string> {
  const schema = `t_${++schemas}`;
  await migrate(pool, { schema });
  return schema;
}

const POLICIES = { default: { maxAttempts: 3, backoff: { initialMs: 10, multiplier: 2, maxMs: 100, jitter: 'none' as const } } };

async function startRelay(schema: string, transport: Transport): Promise<Relay> {
  const relay = createRelay({ pool, schema, transport, policies: POLICIES, logger: silentLogger, minPollIntervalMs: 5, maxPollIntervalMs: 20 });
  relays.push(relay);
  await relay.start();
  return relay;
}

function broker(): InProcessBroker {
  const created = createInProcessBroker({ policies: POLICIES });
  brokers.push(created);
  return created;
}

const count = async (schema: string, table: string): Promise<number> => Number((await pool.query(`SELECT count(*) AS n FROM ${schema}.${table}`)).rows[0].n);

describe('PGlite pool: the database', () => {
  it('runs the multi-statement migrations, once', async () => {
    const first = await migrate(pool, { schema: 'migrated' });
    expect(first.applied).toEqual(['0001_outbox', '0002_dead_letters', '0003_inbox', '0004_relays']);
    expect((await migrate(pool, { schema: 'migrated' })).applied).toEqual([]);
    expect(await schemaVersion(pool, 'migrated')).toBe(4);
  });

  it('converts values as pg does: int8 as string, bytea as Buffer, jsonb parsed, timestamptz as Date, arrays both ways', async () => {
    const at = new Date('2024-05-01T12:00:00.123Z');
    const { rows } = await pool.query(
      `SELECT 9007199254740993::int8 AS big, $1::bytea AS bytes, $2::jsonb AS doc, $3::timestamptz AS at,
              $4::int8[] AS bigs, $5::bytea[] AS blobs, $6::jsonb[] AS docs, $7::text[] AS texts, 1.50::numeric AS num`,
      [Buffer.from([0, 1, 255]), { a: [1, 'two'] }, at, [1, null, 3], [Buffer.from('x'), new Uint8Array([7])], ['{"k":1}', { k: 2 }], ['a,"b"', 'c\\d', null]],
    );
    expect(rows[0]).toEqual({
      big: '9007199254740993',
      bytes: Buffer.from([0, 1, 255]),
      doc: { a: [1, 'two'] },
      at,
      bigs: ['1', null, '3'],
      blobs: [Buffer.from('x'), Buffer.from([7])],
      docs: [{ k: 1 }, { k: 2 }],
      texts: ['a,"b"', 'c\\d', null],
      num: '1.50',
    });
  });

  it('returns one result for one statement and an array for several, with row counts', async () => {
    const single = await pool.query('SELECT 1 AS one');
    expect(single).toMatchObject({ rows: [{ one: 1 }], rowCount: 1 });
    const many = (await pool.query('CREATE TEMP TABLE IF NOT EXISTS scratch (n int); INSERT INTO scratch VALUES (1), (2); SELECT count(*) AS n FROM scratch')) as unknown as Array<{ rows: unknown[] }>;
    expect(many).toHaveLength(3);
    expect(many[2]!.rows).toEqual([{ n: '2' }]);
    expect((await pool.query('DELETE FROM scratch WHERE n > $1', [0])).rowCount).toBe(2);
  });
});

describe('PGlite pool: one session, one transaction at a time', () => {
  it('serialises concurrent transactions: the second waits until the first commits', async () => {
    const schema = await freshSchema();
    await pool.query(`CREATE TABLE ${schema}.log (what text)`);
    let finishFirst!: () => void;
    const firstMayFinish = new Promise<void>((resolve) => (finishFirst = resolve));
    let firstInside = false;
    const first = withTransaction(pool, async (tx) => {
      await tx.query(`INSERT INTO ${schema}.log VALUES ('first')`);
      firstInside = true;
      await firstMayFinish;
    });
    await waitFor('the first transaction to hold the session', () => firstInside);
    let secondStarted = false;
    const second = withTransaction(pool, async (tx) => {
      secondStarted = true;
      return (await tx.query(`SELECT what FROM ${schema}.log`)).rows;
    });
    const outside = pool.query(`SELECT count(*) AS n FROM ${schema}.log`);
    await waitFor('both to queue', () => pool.waitingCount === 2);
    expect(secondStarted).toBe(false);
    finishFirst();
    await first;
    expect(await second).toEqual([{ what: 'first' }]); // it saw the committed row: it ran after
    expect((await outside).rows).toEqual([{ n: '1' }]);
  });

  it('releases the session after a failed transaction, rolled back', async () => {
    const schema = await freshSchema();
    const outbox = createOutbox({ schema });
    await expect(
      withTransaction(pool, async (tx) => {
        await outbox.enqueue(tx, { topic: 'orders.paid', payload: { n: 1 } });
        await tx.query('SELECT 1/0');
      }),
    ).rejects.toThrow(/division by zero/);
    expect(await count(schema, 'outbox')).toBe(0);
    expect(pool.waitingCount).toBe(0);
  });

  it('rolls back a connection given back inside its transaction, and drops its session locks when released with an error', async () => {
    const schema = await freshSchema();
    const leaky = await pool.connect();
    await leaky.query('BEGIN');
    await leaky.query(`INSERT INTO ${schema}.inbox (consumer, message_id) VALUES ('c', 'm')`);
    await leaky.query('SELECT pg_advisory_lock(42)');
    leaky.release(new Error('broken'));
    expect(await count(schema, 'inbox')).toBe(0);
    expect((await pool.query(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'`)).rows[0].n).toBe('0');
    await expect(leaky.query('SELECT 1')).rejects.toMatchObject({ code: PGLITE_SESSION_BUSY });
  });

  it('lets end() finish the queued work, then refuses more, leaving an instance it was given open', async () => {
    const other = createPGlitePool(db);
    const queued = [other.query('SELECT 1 AS n'), other.query('SELECT 2 AS n')];
    await other.end();
    expect((await Promise.all(queued)).map((r) => r.rows[0].n)).toEqual([1, 2]);
    await expect(other.query('SELECT 3')).rejects.toMatchObject({ code: ErrorCode.Stopped });
    expect(db.closed).toBe(false);
    expect((await pool.query('SELECT 4 AS n')).rows).toEqual([{ n: 4 }]);
  });

  it('refuses pool.query() inside a transaction of the same pool instead of waiting for itself forever', async () => {
    const result = await withTransaction(pool, async (tx) => {
      await expect(pool.query('SELECT 1')).rejects.toMatchObject({ code: PGLITE_SESSION_BUSY, message: /use the transaction|tx\.query/ });
      return (await tx.query('SELECT 2 AS two')).rows[0].two;
    });
    expect(result).toBe(2);
  });
});

describe('PGlite pool: producing, relaying, dead letters and the inbox', () => {
  it('keeps relaying when the relay is asked to LISTEN, which one session cannot do (it reports why)', async () => {
    const schema = await freshSchema();
    const memory = broker();
    memory.bind('all', ['#']);
    const relay = createRelay({ pool, schema, transport: memory.transport, listen: true, logger: silentLogger, minPollIntervalMs: 5, maxPollIntervalMs: 20 });
    relays.push(relay);
    const errors: Array<{ phase: string; message: string }> = [];
    relay.on('relay:error', (e) => errors.push({ phase: e.phase, message: e.error.message }));
    await relay.start();
    await waitFor('the listen error', () => errors.length > 0);
    expect(errors[0]).toMatchObject({ phase: 'listen', message: expect.stringMatching(/notification events/) });
    const id = await createOutbox({ schema }).enqueue(pool, { topic: 'a.b', payload: {} });
    await waitFor('the message', () => memory.published.some((m) => m.id === id));
  });

  it('publishes what committed and nothing that rolled back, keeping per-key order through a retry', async () => {
    const schema = await freshSchema();
    const outbox = createOutbox({ schema });
    const memory = broker();
    memory.bind('all', ['orders.#']);
    let failedOnce = false;
    const flaky: Transport = {
      name: 'flaky',
      async publish(batch, options) {
        const results = await memory.transport.publish(
          batch.filter((m) => !(m.key === 'k1' && JSON.parse(m.payload.toString()).n === 2 && !failedOnce)),
          options,
        );
        return batch.map((m) => {
          if (m.key === 'k1' && JSON.parse(m.payload.toString()).n === 2 && !failedOnce) {
            failedOnce = true;
            return failed(new Error('broker hiccup'));
          }
          return results.shift()!;
        });
      },
      close: async () => undefined,
    };
    const retries: number[] = [];
    const relay = await startRelay(schema, flaky);
    relay.on('message:retry-scheduled', (m) => retries.push(m.delayMs));

    for (let n = 0; n < 5; n++) {
      await withTransaction(pool, (tx) =>
        outbox.enqueue(tx, ['k1', 'k2', 'k3'].map((key) => ({ topic: 'orders.paid', key, payload: { key, n } }))),
      );
    }
    await expect(
      withTransaction(pool, async (tx) => {
        await outbox.enqueue(tx, { topic: 'orders.paid', key: 'k1', payload: { key: 'k1', n: 99 } });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');

    await waitFor('15 messages published', () => new Set(memory.published.map((m) => m.id)).size === 15);
    const deliveries = memory.published.map((m) => JSON.parse(m.payload.toString()) as { key: string; n: number });
    expect(orderViolations(deliveries)).toEqual([]);
    expect(deliveries.some((d) => d.n === 99)).toBe(false);
    expect(retries).toEqual([10]);
    await waitFor('the outbox to empty', async () => (await count(schema, 'outbox')) === 0);
  });

  it('retries an unroutable message, dead-letters it with its history, and replays it with the same id', async () => {
    const schema = await freshSchema();
    const outbox = createOutbox({ schema });
    const memory = broker();
    await startRelay(schema, memory.transport);
    const id = await outbox.enqueue(pool, { topic: 'shipping.requested', key: 'o-1', payload: { orderId: 'o-1' } });

    const dead = createDeadLetters({ pool, schema });
    const letter = await waitFor('the dead letter', () => dead.show(id));
    expect(letter).toMatchObject({ id, topic: 'shipping.requested', reason: 'unroutable', attempts: 3 });
    expect(letter.errors.map((e) => e.code)).toEqual([ErrorCode.Unroutable, ErrorCode.Unroutable, ErrorCode.Unroutable]);

    memory.bind('shipping', ['shipping.#']); // the fix: a queue for it
    expect(await dead.replay({ ids: [id] })).toEqual({ count: 1, replayed: [{ id, outboxId: id }] });
    await waitFor('the replayed message', () => memory.published.some((m) => m.id === id));
    expect(await dead.count()).toBe(0);
  });

  it('consumes through the inbox: a handler failure is retried, a poison message dead-lettered and replayed, a duplicate skipped', async () => {
    const schema = await freshSchema();
    await pool.query(`CREATE TABLE ${schema}.effects (message_id text PRIMARY KEY)`);
    const outbox = createOutbox({ schema });
    const memory = broker();
    const inbox = createInbox({ pool, schema });
    const duplicates: string[] = [];
    let fixed = false;
    let flakyOnce = true;
    memory.consume({
      consumer: 'billing',
      topics: ['orders.#'],
      middleware: [inboxMiddleware({ inbox, onDuplicate: (messageId) => duplicates.push(messageId) })],
      handler: async (m, { tx }) => {
        const { poison } = m.json<{ poison?: boolean }>();
        if (poison && !fixed) throw new Error('cannot bill this');
        if (!poison && flakyOnce) {
          flakyOnce = false;
          throw new Error('timed out');
        }
        await tx!.query(`INSERT INTO ${schema}.effects VALUES ($1)`, [m.id]);
      },
    });
    await startRelay(schema, memory.transport);
    const [good, poison] = await withTransaction(pool, (tx) =>
      outbox.enqueue(tx, [
        { topic: 'orders.paid', key: 'a', payload: {} },
        { topic: 'orders.paid', key: 'b', payload: { poison: true } },
      ]),
    );
    await waitFor('the dead letter', () => memory.deadLetters.length === 1);
    expect(memory.deadLetters[0]).toMatchObject({ id: poison, reason: 'max-attempts', attempts: 3 });
    await waitFor('the good effect', async () => (await count(schema, 'effects')) === 1);

    fixed = true;
    expect(memory.replay()).toBe(1);
    await waitFor('the replayed effect', async () => (await count(schema, 'effects')) === 2);

    await outbox.enqueue(pool, { id: good, topic: 'orders.paid', key: 'a', payload: {} }); // published again, same id
    await waitFor('the duplicate to be skipped', () => duplicates.length === 1);
    await memory.idle();
    expect(duplicates).toEqual([good]);
    expect((await pool.query(`SELECT message_id FROM ${schema}.effects ORDER BY message_id`)).rows.map((r) => r.message_id)).toEqual([good, poison].sort());
    expect(await inbox.has('billing', poison!)).toBe(true);
  });
});
