import { afterEach, describe, it, expect } from 'vitest';
import type pg from 'pg';
import { createOutbox, type Outbox } from '../../src/outbox/enqueue.js';
import { ContentType, type MessageInput } from '../../src/message.js';
import { ValidationError } from '../../src/errors.js';
import type { Queryable } from '../../src/db/queryable.js';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import { createMemoryTransport } from '../../src/testing/memory-transport.js';
import { silentLogger } from '../../src/logger.js';
import { useDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

const { pool, freshSchema } = useDatabase();

const clients: pg.PoolClient[] = [];
const relays: Relay[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  for (const client of clients.splice(0)) {
    await client.query('ROLLBACK').catch(() => {});
    client.release();
  }
});

/** A connection with an open transaction, rolled back and released after the test if still open. */
async function begin(): Promise<pg.PoolClient> {
  const client = await pool.connect();
  clients.push(client);
  await client.query('BEGIN');
  return client;
}

async function commit(client: pg.PoolClient): Promise<void> {
  await client.query('COMMIT');
  clients.splice(clients.indexOf(client), 1);
  client.release();
}

async function setup(options: { idempotencyTtlMs?: number } = {}): Promise<{ schema: string; outbox: Outbox; count: () => Promise<number> }> {
  const schema = await freshSchema();
  const outbox = createOutbox({ schema, ...options });
  const count = async () => Number((await pool.query(`SELECT count(*) AS n FROM "${schema}".outbox`)).rows[0].n);
  return { schema, outbox, count };
}

/** Wraps a connection and records every statement sent through it. */
function recording(db: Queryable): { db: Queryable; statements: string[] } {
  const statements: string[] = [];
  return {
    statements,
    db: {
      query: (text, values) => {
        statements.push(text);
        return db.query(text, values);
      },
    },
  };
}

const msg = (n: number, extra: Partial<MessageInput> = {}): MessageInput => ({ topic: 'orders.created', payload: { n }, ...extra });

describe('enqueue and transactions', () => {
  it('writes the message when the caller commits', async () => {
    const { outbox, count } = await setup();
    const tx = await begin();
    const id = await outbox.enqueue(tx, msg(1));
    expect(await count()).toBe(0); // not visible before the commit
    await commit(tx);
    const { rows } = await pool.query(`SELECT id::text FROM "${outbox.schema}".outbox`);
    expect(rows.map((r) => r.id)).toEqual([id]);
  });

  it('writes nothing when the caller rolls back', async () => {
    const { outbox, count } = await setup();
    const tx = await begin();
    await outbox.enqueue(tx, [msg(1), msg(2)]);
    await tx.query('ROLLBACK');
    expect(await count()).toBe(0);
  });

  it('writes a batch of mixed messages in one statement, each as given', async () => {
    const { schema, outbox } = await setup();
    const tx = await begin();
    const { db, statements } = recording(tx);
    const bytes = Buffer.from([0, 1, 2, 250]);
    const deliverAt = new Date(Date.now() + 3_600_000);
    const ids = await outbox.enqueue(db, [
      msg(1, { key: 'customer-1', headers: { tenant: 't1' }, correlationId: 'corr-1', replyTo: 'replies.q' }),
      { topic: 'blobs.stored', payload: bytes },
      msg(3, { idempotencyKey: 'idem-3', delayMs: 60_000 }),
      msg(4, { deliverAt, contentType: 'application/vnd.order+json' }),
    ]);
    expect(statements).toHaveLength(1);
    await commit(tx);
    const { rows } = await pool.query(
      `SELECT id::text, topic, key, payload, content_type, headers, correlation_id, reply_to,
              available_at, available_at > now() + interval '50 seconds' AS delayed, attempts
       FROM "${schema}".outbox ORDER BY seq`,
    );
    expect(rows.map((r) => r.id)).toEqual(ids);
    expect(rows[0]).toMatchObject({ key: 'customer-1', headers: { tenant: 't1' }, correlation_id: 'corr-1', reply_to: 'replies.q', content_type: ContentType.Json, delayed: false, attempts: 0 });
    expect(JSON.parse(rows[0].payload.toString())).toEqual({ n: 1 });
    expect(Buffer.compare(rows[1].payload, bytes)).toBe(0);
    expect(rows[1]).toMatchObject({ content_type: ContentType.Bytes, key: null, headers: {} });
    expect(rows[2].delayed).toBe(true);
    expect(rows[3].available_at.getTime()).toBe(deliverAt.getTime());
    expect(rows[3].content_type).toBe('application/vnd.order+json');
  });

  it('writes nothing of a batch with one invalid message', async () => {
    const { outbox, count } = await setup();
    const tx = await begin();
    const error = await outbox.enqueue(tx, [msg(1), msg(2), { topic: 'bad..topic', payload: 3 }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems.map((p) => p.field)).toEqual(['messages[2].topic']);
    await commit(tx);
    expect(await count()).toBe(0);
  });

  it('leaves the caller transaction usable after a ValidationError: later work in it commits', async () => {
    const { schema, outbox, count } = await setup();
    await pool.query(`CREATE TABLE "${schema}".orders (id int PRIMARY KEY)`);
    const tx = await begin();
    await tx.query(`INSERT INTO "${schema}".orders VALUES (1)`);
    await expect(outbox.enqueue(tx, { topic: 'orders.created', payload: { big: 1n } })).rejects.toBeInstanceOf(ValidationError);
    await expect(outbox.enqueue(tx, { topic: 'orders.created', payload: 1, headers: { n: 1 as never } })).rejects.toThrow(/message\.headers\.n/);
    await tx.query(`INSERT INTO "${schema}".orders VALUES (2)`);
    await outbox.enqueue(tx, msg(1));
    await commit(tx);
    expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".orders`)).rows[0].n).toBe(2);
    expect(await count()).toBe(1);
  });

  it('reports a NUL character in a key as a ValidationError and leaves the transaction usable', async () => {
    const { schema, outbox, count } = await setup();
    await pool.query(`CREATE TABLE "${schema}".orders (id int PRIMARY KEY)`);
    const tx = await begin();
    const error = await outbox.enqueue(tx, msg(1, { key: 'customer\u00001' })).catch((e: unknown) => e);
    expect(error, String(error)).toBeInstanceOf(ValidationError);
    await tx.query(`INSERT INTO "${schema}".orders VALUES (1)`);
    await commit(tx);
    expect(await count()).toBe(0);
  });
});

describe('enqueue ids and idempotency keys', () => {
  it('returns the first id for a second enqueue with the same topic and idempotency key, adding no row', async () => {
    const { outbox, count } = await setup();
    const first = await outbox.enqueue(pool, msg(1, { idempotencyKey: 'order-42' }));
    const second = await outbox.enqueue(pool, msg(2, { idempotencyKey: 'order-42' }));
    expect(second).toBe(first);
    expect(await count()).toBe(1);
  });

  it('keeps deduplicating after the first message left the outbox (was published)', async () => {
    const { schema, outbox, count } = await setup();
    const first = await outbox.enqueue(pool, msg(1, { idempotencyKey: 'order-42' }));
    await pool.query(`DELETE FROM "${schema}".outbox`);
    expect(await outbox.enqueue(pool, msg(2, { idempotencyKey: 'order-42' }))).toBe(first);
    expect(await count()).toBe(0);
  });

  it('dedups an idempotency key repeated inside one batch', async () => {
    const { outbox, count } = await setup();
    const ids = await outbox.enqueue(pool, [msg(1, { idempotencyKey: 'k' }), msg(2), msg(3, { idempotencyKey: 'k' })]);
    expect(ids[2]).toBe(ids[0]);
    expect(ids[1]).not.toBe(ids[0]);
    expect(await count()).toBe(2);
  });

  it('treats the same idempotency key on another topic as another message', async () => {
    const { outbox, count } = await setup();
    const a = await outbox.enqueue(pool, { topic: 'orders.created', payload: 1, idempotencyKey: 'k' });
    const b = await outbox.enqueue(pool, { topic: 'orders.paid', payload: 1, idempotencyKey: 'k' });
    expect(b).not.toBe(a);
    expect(await count()).toBe(2);
  });

  it('makes a concurrent transaction with the same key wait for the first and return its id', async () => {
    const { outbox, count } = await setup();
    const tx1 = await begin();
    const tx2 = await begin();
    const first = await outbox.enqueue(tx1, msg(1, { idempotencyKey: 'race' }));
    const pid2 = (await tx2.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    let settled = false;
    const second = outbox.enqueue(tx2, msg(2, { idempotencyKey: 'race' })).finally(() => {
      settled = true;
    });
    await waitFor('the second enqueue to wait on the first transaction', async () => {
      const { rows } = await pool.query(`SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`, [pid2]);
      return rows[0]?.wait_event_type === 'Lock';
    });
    expect(settled).toBe(false);
    await commit(tx1);
    expect(await second).toBe(first);
    await commit(tx2);
    expect(await count()).toBe(1);
  });

  it('lets a waiting transaction insert its own message when the first one rolls back', async () => {
    const { outbox, count } = await setup();
    const tx1 = await begin();
    const tx2 = await begin();
    const first = await outbox.enqueue(tx1, msg(1, { idempotencyKey: 'race' }));
    const pid2 = (await tx2.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    const second = outbox.enqueue(tx2, msg(2, { idempotencyKey: 'race' }));
    await waitFor('the second enqueue to wait', async () => {
      const { rows } = await pool.query(`SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1`, [pid2]);
      return rows[0]?.wait_event_type === 'Lock';
    });
    await tx1.query('ROLLBACK');
    const secondId = await second;
    expect(secondId).not.toBe(first);
    await commit(tx2);
    const { rows } = await pool.query(`SELECT id::text, payload FROM "${outbox.schema}".outbox`);
    expect(rows.map((r) => r.id)).toEqual([secondId]);
    expect(await count()).toBe(1);
  });

  it('allows a new message once the idempotency key expired', async () => {
    const { schema, outbox, count } = await setup({ idempotencyTtlMs: 200 });
    const first = await outbox.enqueue(pool, msg(1, { idempotencyKey: 'k' }));
    expect(await outbox.enqueue(pool, msg(2, { idempotencyKey: 'k' }))).toBe(first);
    await waitFor('the idempotency key to expire', async () => {
      const { rows } = await pool.query(`SELECT bool_and(expires_at <= now()) AS expired FROM "${schema}".idempotency_keys`);
      return rows[0].expired;
    });
    const second = await outbox.enqueue(pool, msg(3, { idempotencyKey: 'k' }));
    expect(second).not.toBe(first);
    expect(await count()).toBe(2);
    // The new message now holds the key.
    expect(await outbox.enqueue(pool, msg(4, { idempotencyKey: 'k' }))).toBe(second);
    expect(await count()).toBe(2);
  });

  it('adds one row for the same explicit id enqueued twice, returning that id both times', async () => {
    const { outbox, count } = await setup();
    const id = '0190a5c8-1234-7000-8000-00000000abcd';
    expect(await outbox.enqueue(pool, msg(1, { id }))).toBe(id);
    expect(await outbox.enqueue(pool, msg(2, { id }))).toBe(id);
    expect(await count()).toBe(1);
    const { rows } = await pool.query(`SELECT payload FROM "${outbox.schema}".outbox`);
    expect(JSON.parse(rows[0].payload.toString())).toEqual({ n: 1 });
  });
});

describe('enqueue schedules', () => {
  it('holds a message with delayMs or deliverAt back from the relay until its time', async () => {
    const { schema, outbox } = await setup();
    const transport = createMemoryTransport();
    const relay = createRelay({ pool, schema, transport, logger: silentLogger, minPollIntervalMs: 5, maxPollIntervalMs: 50, leaseMs: 5_000 });
    relays.push(relay);
    await relay.start();
    const enqueuedAt = Date.now();
    const offeredAfter = new Map<number, number>();
    transport.failWhen((m) => {
      offeredAfter.set(JSON.parse(m.payload.toString()).n, Date.now() - enqueuedAt);
      return undefined;
    });
    await outbox.enqueue(pool, [msg(1, { delayMs: 700 }), msg(2, { deliverAt: new Date(enqueuedAt + 400) }), msg(3)]);
    await transport.waitForCount(3);
    expect(transport.published.map((m) => JSON.parse(m.payload.toString()).n)).toEqual([3, 2, 1]);
    expect(offeredAfter.get(3)).toBeLessThan(300);
    expect(offeredAfter.get(2)).toBeGreaterThanOrEqual(400);
    expect(offeredAfter.get(1)).toBeGreaterThanOrEqual(700);
  });
});
