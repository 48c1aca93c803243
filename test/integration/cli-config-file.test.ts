import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DB_SECRET_URL, emptyDirectory, expectNoSecrets, json, runCli } from '../helpers/cli.js';
import { useDatabase } from '../helpers/db.js';

const { freshSchema } = useDatabase();

function directoryWith(files: Record<string, string>): string {
  const dir = emptyDirectory();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('postbox config file', () => {
  it('lists every problem at once (file, policies, relay, the adapter\'s own options) and exits 2 without printing credentials', async () => {
    const cwd = directoryWith({
      'postbox.config.json': JSON.stringify({
        database: { url: DB_SECRET_URL, schema: 'Not-Plain' },
        transport: { type: 'rabbitmq', url: 'amqp://guest:rabbit-secret@127.0.0.1:5672', publishTimeoutMs: -1, routs: {} },
        policies: { topics: { 'orders.*': { backoff: { maxMs: -1 } } } },
        relay: { batchSize: 0, leaseMS: 100 },
        logLevel: 'loud',
        extra: true,
      }),
    });
    const result = await runCli(['relay', '--json'], { cwd });
    expect(result.code).toBe(2);
    const { error } = json(result);
    expect(error.problems.map((p: { field: string }) => p.field).sort()).toEqual(
      ['extra', 'relay.leaseMS', 'database.schema', 'policies.topics["orders.*"].backoff.maxMs', 'relay.batchSize', 'logLevel', 'transport.routs', 'transport.publishTimeoutMs'].sort(),
    );
    expect(result.stderr).toMatch(/^postbox: postbox configuration: 8 problems\n/);
    expect(result.stderr).toContain('  - relay.batchSize: must be an integer >= 1, got 0 (in postbox.config.json)');
    expectNoSecrets(result);
  });

  it('takes each setting from flags, then environment, then the file', async () => {
    const fileSchema = await freshSchema();
    const flagSchema = await freshSchema();
    const down = new URL(DB_SECRET_URL);
    down.port = '1';
    const cwd = directoryWith({ 'postbox.config.json': JSON.stringify({ database: { url: down.toString(), schema: fileSchema } }) });
    const env = { DATABASE_URL: DB_SECRET_URL };

    const fromFile = await runCli(['migrate', '--json'], { cwd, env });
    expect(fromFile.code).toBe(0);
    expect(json(fromFile).schema).toBe(fileSchema); // the file's schema, the environment's URL
    const fromFlag = await runCli(['migrate', '--json', '--schema', flagSchema], { cwd, env: { ...env, POSTBOX_SCHEMA: fileSchema } });
    expect(json(fromFlag).schema).toBe(flagSchema);
    const fileOnly = await runCli(['migrate', '--json'], { cwd });
    expect(fileOnly.code).toBe(1); // the file's URL points at a closed port
    expect(fileOnly.stderr).toContain('cannot reach PostgreSQL at postgres://postgres:***@127.0.0.1:1/');
    expect(json(fileOnly)).toEqual({ error: { code: 'ECONNREFUSED', message: expect.stringContaining('cannot reach PostgreSQL'), hint: expect.any(String) }, exitCode: 1 });
    for (const r of [fromFile, fromFlag, fileOnly]) expectNoSecrets(r);
  });

  it('loads a .mjs file named by POSTBOX_CONFIG (a function\'s result) and a .ts file through tsx', async () => {
    const schema = await freshSchema();
    const database = JSON.stringify({ url: DB_SECRET_URL, schema });
    const cwd = directoryWith({
      'settings.mjs': `export default async () => ({ database: ${database} });`,
      'postbox.config.ts': `const config: { database: { url: string; schema: string } } = { database: ${database} };\nexport default config;`,
    });
    const mjs = await runCli(['status', '--json'], { cwd, env: { POSTBOX_CONFIG: 'settings.mjs' } });
    expect(mjs.code).toBe(0);
    expect(json(mjs).relays).toEqual([]);
    const ts = await runCli(['migrate'], { cwd });
    expect(ts.code).toBe(0);
    expect(ts.stdout).toContain(`schema ${schema} at postgres://postgres:***@`);
    const missing = await runCli(['status', '--config', 'nope.json'], { cwd });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--config: names nope.json, which does not exist');
    for (const r of [mjs, ts, missing]) expectNoSecrets(r);
  });
});
