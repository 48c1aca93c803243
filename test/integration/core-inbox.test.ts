import { describe, it, expect } from 'vitest';
import { createInbox } from '../../src/inbox/inbox.js';
import { inboxMiddleware } from '../../src/inbox/middleware.js';
import { createConsumedMessage } from '../../src/consumer/message.js';
import { compose } from '../../src/consumer/compose.js';
import type { ConsumeContext, Handler } from '../../src/consumer/types.js';
import { ConfigError, ValidationError } from '../../src/errors.js';
import { uuidv7 } from '../../src/uuid.js';
import { useDatabase } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

const { pool, freshSchema } = useDatabase();

/** A schema with a side-effect table the handlers write to. */
async function setup() {
  const schema = await freshSchema();
  await pool.query(`CREATE TABLE "${schema}".effects (message_id text, note text)`);
  const effects = async () => (await pool.query(`SELECT message_id, note FROM "${schema}".effects ORDER BY note`)).rows;
  return { schema, inbox: createInbox({ pool, schema }), effects };
}

describe('inbox.process', () => {
  it('runs fn and records the message once; a redelivery is reported as a duplicate and fn does not run', async () => {
    const { schema, inbox, effects } = await setup();
    const id = uuidv7();
    let runs = 0;
    const fn = async (tx: { query: (text: string, values?: unknown[]) => Promise<unknown> }) => {
      runs++;
      await tx.query(`INSERT INTO "${schema}".effects VALUES ($1, 'charged')`, [id]);
      return 'done';
    };
    expect(await inbox.process('billing', id, fn)).toEqual({ duplicate: false, value: 'done' });
    expect(await inbox.process('billing', id, fn)).toEqual({ duplicate: true });
    expect(runs).toBe(1);
    expect(await effects()).toEqual([{ message_id: id, note: 'charged' }]);
    expect(await inbox.has('billing', id)).toBe(true);
  });

  it('scopes dedup per consumer', async () => {
    const { inbox } = await setup();
    const id = uuidv7();
    expect((await inbox.process('billing', id, async () => 1)).duplicate).toBe(false);
    expect((await inbox.process('shipping', id, async () => 2)).duplicate).toBe(false);
    expect(await inbox.has('audit', id)).toBe(false);
  });

  it('runs fn once for two concurrent deliveries of one message: the second waits and reports a duplicate', async () => {
    const { schema, inbox, effects } = await setup();
    const id = uuidv7();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = inbox.process('billing', id, async (tx) => {
      runs++;
      await tx.query(`INSERT INTO "${schema}".effects VALUES ($1, 'first')`, [id]);
      await gate;
      return 'first';
    });
    await waitFor('the first delivery to be inside fn', () => runs === 1);
    let secondDone = false;
    const second = inbox
      .process('billing', id, async () => {
        runs++;
        return 'second';
      })
      .finally(() => (secondDone = true));
    await waitFor('the second delivery to wait on the first one', async () => {
      const { rows } = await pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position($1 in query) > 0`,
        [`"${schema}".inbox`],
      );
      return rows[0].n === 1;
    });
    expect(secondDone).toBe(false);
    release();
    expect(await first).toEqual({ duplicate: false, value: 'first' });
    expect(await second).toEqual({ duplicate: true });
    expect(runs).toBe(1);
    expect(await effects()).toHaveLength(1);
  });

  it('rolls back the record and the side effects when fn throws, so a retry runs fn again', async () => {
    const { schema, inbox, effects } = await setup();
    const id = uuidv7();
    const boom = new Error('downstream failed');
    await expect(
      inbox.process('billing', id, async (tx) => {
        await tx.query(`INSERT INTO "${schema}".effects VALUES ($1, 'half-done')`, [id]);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await inbox.has('billing', id)).toBe(false);
    expect(await effects()).toEqual([]);
    expect(await inbox.process('billing', id, async () => 'retried')).toEqual({ duplicate: false, value: 'retried' });
  });

  it('rejects an empty consumer or message id, naming each', async () => {
    const { inbox } = await setup();
    const error = await inbox.process('', '', async () => 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).problems.map((p) => p.field)).toEqual(['consumer', 'messageId']);
    expect(() => createInbox({ pool, schema: 'Bad-Schema' })).toThrow(ConfigError);
  });
});

describe('inbox.cleanup', () => {
  it('deletes records older than the window in bounded batches, keeping newer ones', async () => {
    const { schema, inbox } = await setup();
    await pool.query(
      `INSERT INTO "${schema}".inbox (consumer, message_id, processed_at)
       SELECT 'c', 'old-' || i, now() - interval '2 hours' FROM generate_series(1, 7) i`,
    );
    await inbox.process('c', 'new-1', async () => undefined);
    const remaining = async () => (await pool.query(`SELECT count(*)::int AS n FROM "${schema}".inbox`)).rows[0].n;
    // At most maxBatches × batchSize per call.
    expect(await inbox.cleanup({ olderThanMs: 3_600_000, batchSize: 2, maxBatches: 2 })).toBe(4);
    expect(await remaining()).toBe(4);
    expect(await inbox.cleanup({ olderThanMs: 3_600_000, batchSize: 2 })).toBe(3);
    expect(await remaining()).toBe(1);
    expect(await inbox.has('c', 'new-1')).toBe(true);
  });
});

describe('inboxMiddleware', () => {
  const context: ConsumeContext = { consumer: 'billing', transport: 'memory', signal: new AbortController().signal };
  const message = (id: string) =>
    createConsumedMessage({ id, topic: 'orders.created', key: null, payload: Buffer.from('{}'), contentType: 'application/json', headers: {}, correlationId: null, replyTo: null, attempt: 1 });

  it('runs the handler with context.tx inside the inbox transaction and skips a duplicate', async () => {
    const { schema, inbox, effects } = await setup();
    const duplicates: Array<[string, string]> = [];
    let runs = 0;
    const handler: Handler = async (m, c) => {
      runs++;
      expect(c.tx).toBeDefined();
      expect(c.consumer).toBe('billing');
      await c.tx!.query(`INSERT INTO "${schema}".effects VALUES ($1, 'via tx')`, [m.id]);
      // The inbox record is visible inside the handler's transaction, not outside it yet.
      expect((await c.tx!.query(`SELECT 1 FROM "${schema}".inbox WHERE message_id = $1`, [m.id])).rows).toHaveLength(1);
      expect(await inbox.has('billing', m.id)).toBe(false);
    };
    const wrapped = compose(inboxMiddleware({ inbox, onDuplicate: (id, consumer) => duplicates.push([id, consumer]) }))(handler);
    const id = uuidv7();
    await wrapped(message(id), context);
    await wrapped(message(id), context);
    expect(runs).toBe(1);
    expect(duplicates).toEqual([[id, 'billing']]);
    expect(await effects()).toEqual([{ message_id: id, note: 'via tx' }]);
  });

  it('uses the configured consumer name as the dedup scope', async () => {
    const { inbox } = await setup();
    const id = uuidv7();
    await inboxMiddleware({ inbox, consumer: 'billing-v2' })(async () => {})(message(id), context);
    expect(await inbox.has('billing-v2', id)).toBe(true);
    expect(await inbox.has('billing', id)).toBe(false);
  });

  it('rethrows a handler error and undoes the work done through context.tx', async () => {
    const { schema, inbox, effects } = await setup();
    const id = uuidv7();
    const wrapped = inboxMiddleware({ inbox })(async (m, c) => {
      await c.tx!.query(`INSERT INTO "${schema}".effects VALUES ($1, 'lost')`, [m.id]);
      throw new Error('handler failed');
    });
    await expect(wrapped(message(id), context)).rejects.toThrow('handler failed');
    expect(await effects()).toEqual([]);
    expect(await inbox.has('billing', id)).toBe(false);
  });
});
