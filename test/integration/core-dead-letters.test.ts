import { afterEach, describe, it, expect } from 'vitest';
import { createDeadLetters, type DeadLetterFilter, type DeadLetters } from '../../src/outbox/dead-letters.js';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { createRelay, type Relay } from '../../src/relay/relay.js';
import { createMemoryTransport } from '../../src/testing/memory-transport.js';
import { ConfigError, NonRetryableError, ValidationError } from '../../src/errors.js';
import { uuidv7 } from '../../src/uuid.js';
import { silentLogger } from '../../src/logger.js';
import { useDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

const { pool, freshSchema } = useDatabase();

const relays: Relay[] = [];
afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop({ timeoutMs: 1000 })));
});

interface Seed {
  topic: string;
  key?: string | null;
  reason: string;
  hoursAgo: number;
  errors?: number;
}

/** Writes dead letters directly, `hoursAgo` apart, and returns their ids in the given order. */
async function seed(schema: string, seeds: Seed[]): Promise<string[]> {
  const ids: string[] = [];
  for (const s of seeds) {
    const id = uuidv7();
    ids.push(id);
    const errors = Array.from({ length: s.errors ?? 2 }, (_, i) => ({ at: new Date().toISOString(), attempt: i + 1, message: `Error: failure ${i + 1} of ${s.topic}` }));
    await pool.query(
      `INSERT INTO "${schema}".dead_letters
         (id, topic, key, payload, content_type, headers, correlation_id, reply_to, created_at, attempts, errors,
          first_attempt_at, last_attempt_at, reason, dead_at)
       VALUES ($1, $2, $3, $4, 'application/json', $5, 'corr', NULL, now() - interval '1 day', $6, $7,
               now() - interval '1 day', now() - $8 * interval '1 hour', $9, now() - $8 * interval '1 hour')`,
      [id, s.topic, s.key ?? null, Buffer.from(JSON.stringify({ topic: s.topic })), JSON.stringify({ tenant: 't1' }), s.errors ?? 2, JSON.stringify(errors), s.hoursAgo, s.reason],
    );
  }
  return ids;
}

const SEEDS: Seed[] = [
  { topic: 'orders.created', key: 'o-1', reason: 'max-attempts', hoursAgo: 6 },
  { topic: 'orders.paid', key: 'o-1', reason: 'permanent-error', hoursAgo: 5 },
  { topic: 'orders.eu.created', key: 'o-2', reason: 'max-attempts', hoursAgo: 4 },
  { topic: 'audit.login', key: null, reason: 'max-age', hoursAgo: 3 },
  { topic: 'orders.created', key: 'o-3', reason: 'unroutable', hoursAgo: 2 },
  { topic: 'orders.paid', key: 'o-4', reason: 'permanent-error', hoursAgo: 1 },
];

async function seeded(): Promise<{ schema: string; ids: string[]; dl: DeadLetters }> {
  const schema = await freshSchema();
  const ids = await seed(schema, SEEDS);
  return { schema, ids, dl: createDeadLetters({ pool, schema }) };
}

async function outboxIds(schema: string): Promise<string[]> {
  return (await pool.query(`SELECT id::text FROM "${schema}".outbox ORDER BY seq`)).rows.map((r) => r.id);
}

async function validationFields(promise: Promise<unknown>): Promise<string[]> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).problems.map((p) => p.field).sort();
}

describe('dead letters: list and count', () => {
  it('lists every dead letter oldest first with a summary of each', async () => {
    const { ids, dl } = await seeded();
    const all = await dl.list();
    expect(all.map((d) => d.id)).toEqual(ids);
    expect(all[0]).toMatchObject({ topic: 'orders.created', key: 'o-1', reason: 'max-attempts', attempts: 2, lastError: 'Error: failure 2 of orders.created' });
    expect(all[0]!.deadAt).toBeInstanceOf(Date);
    expect(all[3]!.key).toBeNull();
    expect(await dl.count()).toBe(6);
  });

  it.each<[string, DeadLetterFilter, number[]]>([
    ['a one-word wildcard pattern', { topic: 'orders.*' }, [0, 1, 4, 5]],
    ['a many-words wildcard pattern', { topic: 'orders.#' }, [0, 1, 2, 4, 5]],
    ['a plain topic', { topic: 'audit.login' }, [3]],
    ['a reason', { reason: 'permanent-error' }, [1, 5]],
    ['a key', { key: 'o-1' }, [0, 1]],
    ['a time window', { deadAfter: new Date(Date.now() - 4.5 * 3600_000), deadBefore: new Date(Date.now() - 1.5 * 3600_000) }, [2, 3, 4]],
    ['a topic and a reason together', { topic: 'orders.#', reason: 'max-attempts' }, [0, 2]],
  ])('filters by %s', async (_name, filter, expected) => {
    const { ids, dl } = await seeded();
    expect((await dl.list(filter)).map((d) => d.id)).toEqual(expected.map((i) => ids[i]));
    expect(await dl.count(filter)).toBe(expected.length);
  });

  it('filters by ids and honours the limit', async () => {
    const { ids, dl } = await seeded();
    expect((await dl.list({ ids: [ids[4]!, ids[1]!] })).map((d) => d.id)).toEqual([ids[1], ids[4]]);
    expect((await dl.list({ limit: 2 })).map((d) => d.id)).toEqual(ids.slice(0, 2));
  });
});

describe('dead letters: show', () => {
  it('returns the payload, headers, attempts and every error of one dead letter', async () => {
    const { ids, dl } = await seeded();
    const dead = await dl.show(ids[2]!);
    expect(dead).toMatchObject({ id: ids[2], topic: 'orders.eu.created', key: 'o-2', reason: 'max-attempts', attempts: 2, contentType: 'application/json', headers: { tenant: 't1' }, correlationId: 'corr', replyTo: null });
    expect(JSON.parse(dead!.payload.toString())).toEqual({ topic: 'orders.eu.created' });
    expect(dead!.errors.map((e) => e.attempt)).toEqual([1, 2]);
    expect(dead!.firstAttemptAt).toBeInstanceOf(Date);
    expect(dead!.lastAttemptAt).toBeInstanceOf(Date);
  });

  it('returns undefined for an unknown id and a ValidationError for a malformed one', async () => {
    const { dl } = await seeded();
    expect(await dl.show(uuidv7())).toBeUndefined();
    expect(await validationFields(dl.show('not-an-id'))).toEqual(['id']);
  });
});

describe('dead letters: replay', () => {
  it('moves a dead letter back to the outbox with its id, payload and history, and the relay publishes it again', async () => {
    const schema = await freshSchema();
    const outbox = createOutbox({ schema });
    const transport = createMemoryTransport();
    let offers = 0;
    transport.failWhen(() => (++offers === 1 ? new NonRetryableError('consumer schema not deployed yet') : undefined));
    const relay = createRelay({ pool, schema, transport, logger: silentLogger, minPollIntervalMs: 5, maxPollIntervalMs: 50, leaseMs: 2_000 });
    relays.push(relay);
    await relay.start();
    const id = await outbox.enqueue(pool, { topic: 'orders.created', key: 'o-9', payload: { n: 9 }, headers: { tenant: 't9' } });
    const dl = createDeadLetters({ pool, schema });
    await waitFor('the dead letter', () => dl.show(id));

    const result = await dl.replay({ ids: [id] });
    expect(result).toEqual({ count: 1, replayed: [{ id, outboxId: id }] });
    const [published] = await transport.waitForCount(1);
    expect(published).toMatchObject({ id, key: 'o-9', topic: 'orders.created', headers: { tenant: 't9' }, attempt: 1 });
    expect(JSON.parse(published!.payload.toString())).toEqual({ n: 9 });
    expect(await dl.count()).toBe(0);
  });

  it('keeps the history and adds a replay entry, with attempts reset', async () => {
    const { schema, ids, dl } = await seeded();
    await dl.replay({ ids: [ids[0]!] });
    const { rows } = await pool.query(
      `SELECT id::text, topic, key, payload, headers, attempts, errors, created_at > now() - interval '1 minute' AS fresh FROM "${schema}".outbox`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: ids[0], topic: 'orders.created', key: 'o-1', headers: { tenant: 't1' }, attempts: 0, fresh: true });
    expect(rows[0].errors.map((e: { code?: string }) => e.code ?? null)).toEqual([null, null, 'POSTBOX_REPLAYED']);
    expect(rows[0].errors[2].message).toMatch(/max-attempts/);
    expect(await dl.count()).toBe(5);
  });

  it('gives fresh UUIDv7 ids with newIds', async () => {
    const { schema, ids, dl } = await seeded();
    const result = await dl.replay({ topic: 'orders.paid', newIds: true });
    expect(result.count).toBe(2);
    expect(result.replayed.map((r) => r.id)).toEqual([ids[1], ids[5]]);
    for (const r of result.replayed) {
      expect(r.outboxId).not.toBe(r.id);
      expect(r.outboxId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    }
    expect(await outboxIds(schema)).toEqual(result.replayed.map((r) => r.outboxId));
    expect(await dl.count({ topic: 'orders.paid' })).toBe(0);
  });

  it('replays the oldest matching dead letters first, up to the limit', async () => {
    const { schema, ids, dl } = await seeded();
    const result = await dl.replay({ topic: 'orders.#', limit: 2 });
    expect(result.replayed.map((r) => r.id)).toEqual([ids[0], ids[1]]);
    expect(await outboxIds(schema)).toEqual([ids[0], ids[1]]);
    expect(await dl.count()).toBe(4);
  });

  it('changes nothing with dryRun, and reports what it would replay', async () => {
    const { schema, ids, dl } = await seeded();
    const result = await dl.replay({ reason: 'max-attempts', dryRun: true });
    expect(result).toEqual({ count: 2, replayed: [{ id: ids[0], outboxId: ids[0] }, { id: ids[2], outboxId: ids[2] }] });
    expect(await dl.count()).toBe(6);
    expect(await outboxIds(schema)).toEqual([]);
  });

  it('skips a dead letter whose id is pending in the outbox again', async () => {
    const { schema, ids, dl } = await seeded();
    await createOutbox({ schema }).enqueue(pool, { id: ids[0]!, topic: 'orders.created', payload: { again: true } });
    const result = await dl.replay({ ids: [ids[0]!, ids[1]!] });
    expect(result.replayed.map((r) => r.id)).toEqual([ids[1]]);
    expect(await dl.count({ ids: [ids[0]!] })).toBe(1);
  });
});

describe('dead letters: purge', () => {
  it('deletes the matching dead letters and returns how many', async () => {
    const { ids, dl } = await seeded();
    expect(await dl.purge({ reason: 'permanent-error' })).toBe(2);
    expect((await dl.list()).map((d) => d.id)).toEqual([ids[0], ids[2], ids[3], ids[4]]);
  });

  it('deletes the oldest first up to the limit', async () => {
    const { ids, dl } = await seeded();
    expect(await dl.purge({ topic: 'orders.#', limit: 3 })).toBe(3);
    expect((await dl.list()).map((d) => d.id)).toEqual([ids[3], ids[4], ids[5]]);
  });

  it('changes nothing with dryRun, and counts what it would delete', async () => {
    const { dl } = await seeded();
    expect(await dl.purge({ topic: 'orders.*', dryRun: true })).toBe(4);
    expect(await dl.purge({ topic: 'orders.*', dryRun: true, limit: 3 })).toBe(3);
    expect(await dl.count()).toBe(6);
  });
});

describe('dead letters: bad input', () => {
  it('reports every bad filter field at once as a ValidationError', async () => {
    const { dl } = await seeded();
    expect(
      await validationFields(
        dl.list({ topic: 'orders.*x', reason: 'gone' as never, deadAfter: new Date('nope'), deadBefore: 'yesterday' as never, ids: ['x'] }),
      ),
    ).toEqual(['deadAfter', 'deadBefore', 'ids', 'reason', 'topic']);
    expect(await validationFields(dl.count({ topic: '' }))).toEqual(['topic']);
    expect(await validationFields(dl.replay({ topic: 'a..b' }))).toEqual(['topic']);
    expect(await validationFields(dl.purge({ reason: 'old' as never }))).toEqual(['reason']);
    expect(await dl.count()).toBe(6);
  });

  it.each([0, -1, 1.5, 100_001])('rejects the limit %s', async (limit) => {
    const { dl } = await seeded();
    expect(await validationFields(dl.list({ limit }))).toEqual(['limit']);
    expect(await validationFields(dl.replay({ limit }))).toEqual(['limit']);
  });

  it('rejects an unknown filter field instead of ignoring it (a misspelt purge filter must not delete everything)', async () => {
    const { dl } = await seeded();
    const error = await dl.purge({ topik: 'audit.login' } as DeadLetterFilter).catch((e: unknown) => e);
    expect(await dl.count()).toBe(6);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems.map((p) => p.field)).toEqual(['topik']);
  });

  it('rejects a schema that is not a plain identifier', () => {
    expect(() => createDeadLetters({ pool, schema: 'x; DROP TABLE y' })).toThrow(ConfigError);
  });
});
