/**
 * The ambient transaction of withTransaction() and inTransaction() against real PostgreSQL: it is
 * current everywhere its callback's async work runs, COMMIT waits for the writes tracked in it,
 * a failed write rolls the transaction back, and it is gone (for that work, too) once it ended.
 */
import { describe, expect, it } from 'vitest';
import { currentTransaction } from '../../src/db/ambient.js';
import { inTransaction, withTransaction, type Queryable } from '../../src/db/queryable.js';
import { facadeTarget } from '../../src/facade/scope.js';
import { useDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

const { pool, freshSchema } = useDatabase();

/** A fresh schema with a table `rows (label text)`; returns the schema and a count of labels. */
async function table(): Promise<{ schema: string; labels(): Promise<string[]> }> {
  const schema = await freshSchema();
  await pool.query(`CREATE TABLE "${schema}".rows (label text NOT NULL)`);
  return {
    schema,
    labels: async () => (await pool.query(`SELECT label FROM "${schema}".rows ORDER BY label`)).rows.map((r: { label: string }) => r.label),
  };
}

/** A promise the test resolves when it chooses. */
function gate(): { readonly opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/** Registers a write with the ambient transaction, as a producer facade does. */
function track(write: Promise<unknown>): void {
  const target = facadeTarget(undefined);
  if (target === undefined) throw new Error('no ambient transaction');
  target.track(write);
}

describe('ambient transaction', () => {
  it('is current in every async context the callback starts, and in none once it ended', async () => {
    const release = gate();
    let afterwards: Promise<Queryable | undefined> | undefined;
    const seen = await withTransaction(pool, async (tx) => {
      const inTimer = await new Promise<Queryable | undefined>((resolve) => setTimeout(() => resolve(currentTransaction()), 0));
      const inImmediate = await new Promise<Queryable | undefined>((resolve) => setImmediate(() => resolve(currentTransaction())));
      await tx.query('SELECT 1');
      const inParallel = await Promise.all([1, 2, 3].map(async (n) => {
        for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
        return currentTransaction();
      }));
      // Work the transaction started but that runs only after it ended.
      afterwards = release.opened.then(() => currentTransaction());
      return { tx, inTimer, inImmediate, inParallel };
    });
    expect(seen.inTimer).toBe(seen.tx);
    expect(seen.inImmediate).toBe(seen.tx);
    expect(seen.inParallel).toEqual([seen.tx, seen.tx, seen.tx]);
    expect(currentTransaction()).toBeUndefined();
    release.open();
    expect(await afterwards).toBeUndefined();
  });

  it('nests: an inner transaction is current inside it, the outer one again after it', async () => {
    await withTransaction(pool, async (outer) => {
      const inner = await withTransaction(pool, async (tx) => {
        expect(currentTransaction()).toBe(tx);
        return tx;
      });
      expect(inner).not.toBe(outer);
      expect(currentTransaction()).toBe(outer);
    });
  });

  it('waits for a tracked write that was not awaited before COMMIT', async () => {
    const { schema, labels } = await table();
    const write = gate();
    let returned = false;
    let committed = false;
    const transaction = withTransaction(pool, async (tx) => {
      track(write.opened.then(() => tx.query(`INSERT INTO "${schema}".rows (label) VALUES ('late')`)));
      returned = true;
    }).then(() => {
      committed = true;
    });
    await waitFor('the callback to return', () => returned);
    expect(committed).toBe(false);
    expect(await labels()).toEqual([]);

    write.open();
    await transaction;
    expect(await labels()).toEqual(['late']);
  });

  it('waits for a write started by another tracked write', async () => {
    const { schema, labels } = await table();
    await withTransaction(pool, async (tx) => {
      track(
        tx.query(`INSERT INTO "${schema}".rows (label) VALUES ('first')`).then(() => {
          track(tx.query(`INSERT INTO "${schema}".rows (label) VALUES ('second')`));
        }),
      );
    });
    expect(await labels()).toEqual(['first', 'second']);
  });

  it('rolls back the business change when a tracked write fails, with that error', async () => {
    const { schema, labels } = await table();
    await expect(
      withTransaction(pool, async (tx) => {
        await tx.query(`INSERT INTO "${schema}".rows (label) VALUES ('business')`);
        track(tx.query(`INSERT INTO "${schema}".missing_table (label) VALUES ('write')`));
      }),
    ).rejects.toThrow(/missing_table/);
    expect(await labels()).toEqual([]);
  });

  it('still waits for tracked writes when the callback throws, so none runs after ROLLBACK', async () => {
    const { schema, labels } = await table();
    const write = gate();
    let wrote = false;
    await expect(
      withTransaction(pool, async (tx) => {
        track(write.opened.then(async () => {
          await tx.query(`INSERT INTO "${schema}".rows (label) VALUES ('write')`);
          wrote = true;
        }));
        setImmediate(() => write.open());
        throw new Error('the business logic failed');
      }),
    ).rejects.toThrow('the business logic failed');
    expect(wrote).toBe(true);
    expect(await labels()).toEqual([]);
  });

  it('keeps concurrent transactions apart', async () => {
    const { schema, labels } = await table();
    const bothStarted = { count: 0, all: gate() };
    const run = (label: string): Promise<boolean[]> =>
      withTransaction(pool, async (tx) => {
        const mine: boolean[] = [];
        bothStarted.count += 1;
        if (bothStarted.count === 2) bothStarted.all.open();
        await bothStarted.all.opened;
        for (let i = 0; i < 3; i++) {
          await tx.query('SELECT pg_sleep(0)');
          mine.push(currentTransaction() === tx);
          track(tx.query(`INSERT INTO "${schema}".rows (label) VALUES ($1)`, [`${label}-${i}`]));
        }
        if (label === 'b') throw new Error('b rolls back');
        return mine;
      });
    const [a, b] = await Promise.allSettled([run('a'), run('b')]);
    expect(a).toEqual({ status: 'fulfilled', value: [true, true, true] });
    expect(b.status).toBe('rejected');
    expect(await labels()).toEqual(['a-0', 'a-1', 'a-2']);
  });

  it('makes your own transaction ambient with inTransaction, resolving after its tracked writes and rejecting with a failed one', async () => {
    const { schema, labels } = await table();
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await inTransaction(client, async (tx) => {
        expect(currentTransaction()).toBe(client);
        track(tx.query(`INSERT INTO "${schema}".rows (label) VALUES ('mine')`));
      });
      expect(currentTransaction()).toBeUndefined();
      await client.query('COMMIT');

      await client.query('BEGIN');
      await expect(
        inTransaction(client, async () => {
          track(Promise.reject(new Error('the write failed')));
        }),
      ).rejects.toThrow('the write failed');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await labels()).toEqual(['mine']);
  });
});
