import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DemoError, runDemo as runDemoInProcess } from '../../src/demo/index.js';
import { DATABASE_URL, RABBITMQ_URL } from '../helpers/services.js';

const run = promisify(execFile);
const demo = new URL('../../dist/examples/demo.js', import.meta.url).pathname;

/** The environment without anything that points the demo at a service. */
function bareEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['DATABASE_URL', 'POSTBOX_RABBITMQ_URL', 'RABBITMQ_URL', 'POSTBOX_KAFKA_BROKERS', 'KAFKA_BROKERS', 'POSTBOX_REDIS_URL', 'REDIS_URL']) {
    delete env[name];
  }
  return env;
}

async function runDemo(env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  expect(existsSync(demo), 'dist/examples/demo.js is missing: npm test builds it first (npm run build)').toBe(true);
  return run(process.execPath, [demo], { env, timeout: 60_000 });
}

/** The story every mode tells (RabbitMQ delivers as the in-process broker does). */
function expectTheStory(stdout: string): void {
  const lines = stdout.trimEnd().split('\n');
  for (const line of lines) {
    // `  +1.23s  actor     text`: time right-aligned in 7, the actor from column 9, the text from column 19.
    expect(line).toMatch(/^ *\+\d+\.\d\ds {2}[a-z]+ +\S/);
    expect([line.slice(0, 7).trimStart().startsWith('+'), line[9] !== ' ', line[18], line[19] !== ' ']).toEqual([true, true, ' ', true]);
  }
  expect(stdout).toMatch(/o-1: order and its orders\.paid event committed in one transaction/);
  expect(stdout).toMatch(/o-2: rolled back \(card declined\): neither the order nor its event exists/);
  expect(stdout).toMatch(/relay +published o-1: the broker acknowledged/);
  expect(stdout).toMatch(/billing +o-1: attempt 1 failed \(billing service timed out\); retry in 100 ms/);
  expect(stdout).toMatch(/billing +o-1: invoice for 42 written in the inbox transaction \(attempt 2\)/);
  expect(stdout).toMatch(/billing +o-3: dead-lettered at attempt 1, permanent-error: amount "forty-two" is not a number/);
  expect(stdout).toMatch(/ops +fix deployed .*replaying the dead letter …[0-9a-f]{8}, same id/);
  expect(stdout).toMatch(/billing +o-3: invoice for 42 written in the inbox transaction \(attempt 1\)/);
  expect(stdout).toMatch(/billing +o-1: duplicate of …[0-9a-f]{8} skipped by the inbox/);
  expect(stdout).toContain('orders 2, invoices 2 (one per order), outbox pending 0, dead letters 0');
  expect(stdout).not.toMatch(/o-2: (invoice|attempt)|published o-2/);
}

describe('npm run demo (the README\'s first command)', () => {
  it('runs on nothing but Node: PGlite and the in-process broker, and exits 0', async () => {
    const { stdout, stderr } = await runDemo(bareEnv());
    expectTheStory(stdout);
    expect(stdout).toContain('database  PGlite (embedded PostgreSQL, in memory): 4 migrations applied');
    expect(stdout).toContain('broker    the in-process broker (postbox/testing; not a real broker)');
    expect(stdout).toMatch(/done +everything lived in memory/);
    expect(stderr).toBe('');
  });

  it('tells the same story against the real PostgreSQL and RabbitMQ, credentials redacted, and cleans up', async () => {
    const { stdout } = await runDemo({ ...bareEnv(), DATABASE_URL, POSTBOX_RABBITMQ_URL: RABBITMQ_URL });
    expectTheStory(stdout);
    expect(stdout).toMatch(/database +PostgreSQL at postgres:\/\/.*, schema demo_[0-9a-f]{6}: 4 migrations applied/);
    expect(stdout).toMatch(/broker +RabbitMQ at amqp:\/\/(guest:)?\*\*\*@/);
    expect(stdout).not.toContain('guest:guest');
    expect(stdout).toMatch(/done +what the demo created on the services is removed/);
  });

  it('removes what it created on the services when interrupted mid-story (Ctrl+C)', async () => {
    const interrupt = new AbortController();
    let run: string | undefined;
    const failure = await runDemoInProcess({
      databaseUrl: DATABASE_URL,
      broker: { type: 'rabbitmq', url: RABBITMQ_URL },
      signal: interrupt.signal,
      write: (line) => {
        run ??= /schema demo_([0-9a-f]{6})/.exec(line)?.[1];
        if (/relay +started/.test(line)) interrupt.abort();
      },
    }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DemoError);
    expect((failure as DemoError).message).toBe('interrupted before the end of the story');
    expect(run).toBeDefined();

    const pool = new pg.Pool({ connectionString: DATABASE_URL });
    const connection = await amqp.connect(RABBITMQ_URL);
    try {
      expect((await pool.query('SELECT nspname FROM pg_namespace WHERE nspname = $1', [`demo_${run}`])).rows).toEqual([]);
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await expect(channel.checkQueue(`demo.billing.${run}`)).rejects.toThrow(/NOT_FOUND/);
    } finally {
      await connection.close();
      await pool.end();
    }
  });

  it('exits 1 with what failed and how to fix it when a service is down, password redacted', async () => {
    const failure = await runDemo({ ...bareEnv(), DATABASE_URL: 'postgres://demo:s3cret@127.0.0.1:1/none' }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(/^demo failed: PostgreSQL: .*ECONNREFUSED/m);
    expect(failure?.stderr).toMatch(/is PostgreSQL running at that address.*unset DATABASE_URL to run on the embedded PGlite/);
    expect(failure?.stderr).not.toContain('s3cret');
  });
});
