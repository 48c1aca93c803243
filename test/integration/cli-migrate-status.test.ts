import { describe, expect, it } from 'vitest';
import { createOutbox } from '../../src/outbox/enqueue.js';
import { uuidv7 } from '../../src/uuid.js';
import { DB_SECRET_URL, expectNoSecrets, json, runCli } from '../helpers/cli.js';
import { useDatabase, uniqueName } from '../helpers/db.js';

const { pool, freshSchema } = useDatabase();
const env = { DATABASE_URL: DB_SECRET_URL };

describe('postbox migrate', () => {
  it('migrates a fresh schema, then reports it up to date', async () => {
    const schema = uniqueName('t_cli').replace('-', '_');
    try {
      const fresh = await runCli(['migrate', '--schema', schema, '--json'], { env });
      expect(fresh.code).toBe(0);
      const applied = json(fresh);
      expect(applied).toMatchObject({ schema, version: expect.any(Number) });
      expect(applied.applied[0]).toBe('0001_outbox');
      expect(applied.applied).toHaveLength(applied.version);

      const again = await runCli(['migrate'], { env: { ...env, POSTBOX_SCHEMA: schema } });
      expect(again.code).toBe(0);
      expect(again.stdout).toBe(`schema ${schema} at ${DB_SECRET_URL.replace(/:[^:@/]+@/, ':***@')} is up to date (version ${applied.version})\n`);
      expectNoSecrets(fresh);
      expectNoSecrets(again);
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });
});

describe('postbox status', () => {
  async function seeded(): Promise<string> {
    const schema = await freshSchema();
    const outbox = createOutbox({ schema });
    await outbox.enqueue(pool, [
      { topic: 'orders.paid', payload: 1 },
      { topic: 'orders.paid', payload: 2 },
      { topic: 'orders.paid', payload: 3, delayMs: 3_600_000 },
      { topic: 'audit.login', payload: 4 },
    ]);
    // One message failed once and waits for its retry; it was enqueued 90 s ago, so it is the oldest due.
    await pool.query(`UPDATE "${schema}".outbox SET attempts = 1, created_at = now() - interval '90 seconds' WHERE topic = 'audit.login'`);
    await pool.query(
      `INSERT INTO "${schema}".dead_letters (id, topic, key, payload, content_type, headers, created_at, attempts, errors, reason)
       VALUES ($1, 'orders.paid', 'k', '\\x7b7d', 'application/json', '{}', now(), 3, '[]', 'unroutable')`,
      [uuidv7()],
    );
    return schema;
  }

  it('shows counts by topic and state, totals and relays; --json prints the data; thresholds exit 3', async () => {
    const schema = await seeded();
    const human = await runCli(['status', '--schema', schema, '--max-age-ms', '600000'], { env });
    expect(human.code).toBe(0);
    const lines = human.stdout.split('\n');
    expect(lines[1]).toMatch(/^TOPIC\s+READY\s+SCHEDULED\s+RETRYING\s+IN FLIGHT\s+DEAD\s+OLDEST DUE$/);
    expect(lines[2]).toMatch(/^audit\.login\s+0\s+0\s+1\s+0\s+0\s+1m 3\ds$/);
    expect(lines[3]).toMatch(/^orders\.paid\s+2\s+1\s+0\s+0\s+1\s+[\d.]+m?s$/);
    expect(lines[4]).toMatch(/^total\s+2\s+1\s+1\s+0\s+1\s+1m 3\ds$/);
    expect(human.stdout).toContain('relays: none registered');

    const data = await runCli(['status', '--json', '--fail-on-dead'], { env: { ...env, POSTBOX_SCHEMA: schema } });
    expect(data.code).toBe(3);
    expect(json(data)).toMatchObject({
      topics: [
        { topic: 'audit.login', ready: 0, scheduled: 0, retrying: 1, inFlight: 0, dead: 0 },
        { topic: 'orders.paid', ready: 2, scheduled: 1, retrying: 0, inFlight: 0, dead: 1 },
      ],
      totals: { ready: 2, scheduled: 1, retrying: 1, inFlight: 0, dead: 1, oldestDueAgeMs: expect.any(Number) },
      relays: [],
    });

    const old = await runCli(['status', '--schema', schema, '--max-age-ms', '60000'], { env });
    expect(old.code).toBe(3);
    expect(old.stderr).toMatch(/^postbox status: the oldest due message is 1m 3\ds old, more than --max-age-ms 60000\n$/);
    for (const r of [human, data, old]) expectNoSecrets(r);
  });

  it('fails with exit 1 and says to migrate when the schema has no postbox tables', async () => {
    const result = await runCli(['status', '--schema', 'cli_never_migrated'], { env });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('schema "cli_never_migrated"');
    expect(result.stderr).toContain('hint: run: postbox migrate --schema cli_never_migrated');
    expectNoSecrets(result);
  });
});
