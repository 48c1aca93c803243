import { describe, expect, it } from 'vitest';
import { DB_SECRET_URL, expectNoSecrets, json, runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';
import { RABBITMQ_URL, REDIS_URL } from '../helpers/services.js';

const { freshSchema } = useDatabase();

interface Check {
  name: string;
  status: string;
  message: string;
  hint?: string;
  details?: string[];
}
const byName = (checks: Check[]) => Object.fromEntries(checks.map((c) => [c.name, c]));

describe('postbox doctor', () => {
  it('passes every check against the real database and RabbitMQ (no relay alive is a warning only)', async () => {
    const schema = await freshSchema();
    const result = await runCli(['doctor', '--schema', schema, '--json'], { env: { DATABASE_URL: DB_SECRET_URL, POSTBOX_RABBITMQ_URL: RABBITMQ_URL } });
    expect(result.code).toBe(0);
    const report = json<{ ok: boolean; checks: Check[] }>(result);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['config', 'ok'],
      ['database', 'ok'],
      ['schema', 'ok'],
      ['policies', 'ok'],
      ['transport', 'ok'],
      ['relays', 'warn'],
    ]);
    expect(byName(report.checks).transport!.message).toMatch(/^rabbitmq: connected to amqp:\/\/guest:\*\*\*@/);
    expectNoSecrets(result);
  });

  it('checks a BullMQ transport by connecting to Redis', async () => {
    const schema = await freshSchema();
    const result = await runCli(['doctor', '--schema', schema, '--redis-url', REDIS_URL], { env: { DATABASE_URL: DB_SECRET_URL } });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ok\s+transport\s+bullmq: connected to Redis at redis:/m);
    expect(result.stdout).toMatch(/no check failed; 1 warning\n$/);
  });

  it('fails (exit 1) on an unmigrated schema and an unreachable broker, with hints, and keeps checking the rest', async () => {
    const result = await runCli(['doctor', '--schema', 'cli_doctor_unmigrated', '--rabbitmq-url', 'amqp://guest:rabbit-secret@127.0.0.1:1'], { env: { DATABASE_URL: DB_SECRET_URL } });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^ok\s+database\s+reachable: PostgreSQL .* at postgres:\/\/postgres:\*\*\*@/m);
    expect(result.stdout).toMatch(/^fail\s+schema\s+"cli_doctor_unmigrated" has no postbox tables\n\s+hint: run: postbox migrate --schema cli_doctor_unmigrated$/m);
    expect(result.stdout).toMatch(/^fail\s+transport\s+rabbitmq: cannot connect to amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1: .*ECONNREFUSED/m);
    expect(result.stdout).toMatch(/^skip\s+relays\s+skipped: needs the schema check to pass$/m);
    expect(result.stdout).toMatch(/2 checks failed\n$/);
    expectNoSecrets(result);
  });

  it('fails (exit 1) when the database is unreachable, and lists every configuration problem', async () => {
    const down = new URL(DB_SECRET_URL);
    down.port = '1';
    const result = await runCli(['doctor', '--json', '--batch-size', '0', '--transport', 'kafka', '--policies', 'missing.json'], { env: { DATABASE_URL: down.toString() } });
    expect(result.code).toBe(1);
    const checks = byName(json<{ checks: Check[] }>(result).checks);
    expect(checks.database).toMatchObject({ status: 'fail', message: expect.stringContaining('cannot reach PostgreSQL at postgres://'), hint: expect.stringContaining('--database-url') });
    expect(checks.schema!.status).toBe('skip');
    expect(checks.config).toMatchObject({ status: 'fail', details: [expect.stringMatching(/^--policies: names .*missing\.json, which does not exist$/), expect.stringMatching(/^relay\.batchSize: must be an integer >= 1, got 0 \(from --batch-size\)$/)] });
    expect(checks.transport).toMatchObject({ status: 'fail', details: [expect.stringMatching(/^transport\.brokers: is required/)] });
    expectNoSecrets(result);
  });
});
