import { describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/uuid.js';
import { DB_SECRET_URL, expectNoSecrets, json, runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';

const { pool, freshSchema } = useDatabase();
const env = { DATABASE_URL: DB_SECRET_URL };

/** `count` dead letters of a topic, one second apart, dead `hoursAgo` (and then younger), with one error each. */
async function seed(schema: string, topic: string, reason: string, count: number, hoursAgo: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => uuidv7());
  await pool.query(
    `INSERT INTO "${schema}".dead_letters (id, topic, key, payload, content_type, headers, created_at, attempts, errors, reason, dead_at)
     SELECT id, $2, 'k-' || n, convert_to('{"n":' || n || '}', 'UTF8'), 'application/json', '{"tenant":"t1"}', now() - interval '2 days', 3,
            jsonb_build_array(jsonb_build_object('at', now(), 'attempt', 3, 'code', 'POSTBOX_UNROUTABLE',
              'message', 'no queue bound at amqp://guest:rabbit-secret@broker:5672')),
            $3, now() - $4 * interval '1 hour' + n * interval '1 second'
       FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n)`,
    [ids, topic, reason, hoursAgo],
  );
  return ids;
}

async function outboxIds(schema: string): Promise<string[]> {
  return (await pool.query(`SELECT id::text FROM "${schema}".outbox ORDER BY seq`)).rows.map((r: { id: string }) => r.id);
}

describe('postbox dlq list and show', () => {
  it('lists dead letters with filters and a limit, as a table or JSON', async () => {
    const schema = await freshSchema();
    const orders = await seed(schema, 'orders.paid', 'unroutable', 3, 48);
    await seed(schema, 'audit.login', 'max-attempts', 2, 1);
    const run = (...args: string[]) => runCli(['dlq', 'list', '--schema', schema, ...args], { env });

    const table = await run('--topic', 'orders.*', '--limit', '2');
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TOPIC\s+KEY\s+REASON\s+ATTEMPTS\s+DEAD AT\s+LAST ERROR$/);
    expect(lines[1]).toMatch(new RegExp(`^${orders[0]}\\s+orders\\.paid\\s+k-1\\s+unroutable\\s+3\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ\\s+no queue bound at amqp://guest:\\*\\*\\*@broker:5672$`));
    expect(lines[2]).toContain(orders[1]);
    expect(lines[3]).toBe('showing 2 of 3 dead letters, oldest first (--limit N for more)');

    const data = await run('--reason', 'max-attempts', '--since', '2h', '--json');
    expect(data.code).toBe(0);
    expect(json(data)).toMatchObject({ total: 2, deadLetters: [{ topic: 'audit.login', reason: 'max-attempts', attempts: 3 }, { topic: 'audit.login' }] });

    const bad = await run('--reason', 'bored', '--topic', 'orders..x');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--topic .*; --reason must be one of/);
    for (const result of [table, data, bad]) expectNoSecrets(result);
  });

  it('shows one dead letter with payload, headers and errors; exit 1 for an unknown id', async () => {
    const schema = await freshSchema();
    const [id] = await seed(schema, 'orders.paid', 'unroutable', 1, 1);
    const human = await runCli(['dlq', 'show', id!, '--schema', schema], { env });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`id           ${id}`);
    expect(human.stdout).toContain('payload (application/json, 7 bytes)\n  {"n":1}');
    expect(human.stdout).toContain('headers (1)\n  tenant: t1');
    expect(human.stdout).toMatch(/#3 .* POSTBOX_UNROUTABLE: no queue bound at amqp:\/\/guest:\*\*\*@broker:5672/);

    const data = await runCli(['dlq', 'show', id!, '--schema', schema, '--json'], { env });
    expect(json(data)).toMatchObject({ id, topic: 'orders.paid', payload: { n: 1 }, payloadBase64: Buffer.from('{"n":1}').toString('base64'), headers: { tenant: 't1' } });

    const missing = await runCli(['dlq', 'show', uuidv7(), '--schema', schema], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no dead letter with id');
    for (const result of [human, data, missing]) expectNoSecrets(result);
  });
});

describe('postbox dlq replay and purge', () => {
  it('replays a filtered batch in pages with progress on stderr, keeping ids; --dry-run changes nothing', async () => {
    const schema = await freshSchema();
    const orders = await seed(schema, 'orders.paid', 'unroutable', 300, 5);
    const audit = await seed(schema, 'audit.login', 'unroutable', 5, 4);

    const dry = await runCli(['dlq', 'replay', '--schema', schema, '--topic', 'orders.#', '--dry-run', '--json'], { env });
    expect(dry.code).toBe(0);
    expect(json(dry)).toEqual({ dryRun: true, count: 300, ids: orders });
    expect(await outboxIds(schema)).toEqual([]);

    const replay = await runCli(['dlq', 'replay', '--schema', schema, '--topic', 'orders.#', '--page-size', '100', '--json'], { env });
    expect(replay.code).toBe(0);
    const result = json(replay);
    expect(result.count).toBe(300);
    expect(result.replayed.map((r: { outboxId: string }) => r.outboxId)).toEqual(orders);
    expect(await outboxIds(schema)).toEqual(orders);
    const progress = replay.stderr.trimEnd().split('\n');
    expect(progress).toEqual([
      expect.stringMatching(/^replaying dead letters 100\/300 \(33%/),
      expect.stringMatching(/^replaying dead letters 200\/300 \(66%/),
      expect.stringMatching(/^replaying dead letters 300\/300 \(100%/),
      expect.stringMatching(/^replayed 300 dead letters in /),
    ]);

    const human = await runCli(['dlq', 'replay', '--schema', schema, '--limit', '2', '--new-ids'], { env });
    expect(human.stdout).toBe('replayed 2 dead letters to the outbox with new ids\n');
    const ids = await outboxIds(schema);
    expect(ids).toHaveLength(302);
    expect(ids.slice(300)).not.toEqual(audit.slice(0, 2));
    for (const r of [dry, replay, human]) expectNoSecrets(r);
  });

  it('purges in pages with progress; without filters only with --yes; --dry-run counts', async () => {
    const schema = await freshSchema();
    await seed(schema, 'orders.paid', 'max-age', 250, 50);
    await seed(schema, 'audit.login', 'unroutable', 3, 1);
    const run = (...args: string[]) => runCli(['dlq', 'purge', '--schema', schema, ...args], { env });

    const refused = await run();
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('add --yes');

    const dry = await run('--dry-run');
    expect(dry.stdout).toBe('would purge 253 dead letters (dry run: nothing changed)\n');

    const filtered = await run('--before', new Date(Date.now() - 24 * 3_600_000).toISOString(), '--page-size', '100', '--json');
    expect(filtered.code).toBe(0);
    expect(json(filtered)).toEqual({ count: 250 });
    expect(filtered.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^purging dead letters 100\/250 \(40%/),
      expect.stringMatching(/^purging dead letters 200\/250 \(80%/),
      expect.stringMatching(/^purging dead letters 250\/250 \(100%/),
      expect.stringMatching(/^purged 250 dead letters in /),
    ]);

    const all = await run('--yes');
    expect(all.stdout).toBe('purged 3 dead letters\n');
    expect((await pool.query(`SELECT count(*)::int AS n FROM "${schema}".dead_letters`)).rows[0].n).toBe(0);
    for (const r of [refused, dry, filtered, all]) expectNoSecrets(r);
  });
});
