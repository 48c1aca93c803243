import { describe, expect, it } from 'vitest';
import { expectNoSecrets, json, runCli } from '../helpers/cli.js';

describe('postbox help and usage errors', () => {
  it('prints the overview with settings and exit codes, and each command\'s usage', async () => {
    const help = await runCli(['help']);
    expect(help.code).toBe(0);
    for (const command of ['migrate', 'relay', 'status', 'dlq list', 'dlq show', 'dlq replay', 'dlq purge', 'doctor', 'demo']) expect(help.stdout).toContain(`  ${command} `);
    expect(help.stdout).toMatch(/Exit codes:\n  0  ok\n  1  the command ran and failed[\s\S]*\n  2  bad usage or configuration[\s\S]*\n  3  status found/);
    const replay = await runCli(['dlq', 'replay', '--help']);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/^Usage: postbox dlq replay /);
  });

  it('exits 2 with a hint on an unknown command, flag or subcommand, never echoing a credential', async () => {
    const command = await runCli(['stauts']);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('unknown command "stauts"; did you mean "status"?');
    const flag = await runCli(['status', '--databse-url=postgres://app:rabbit-secret@db/app']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toBe('postbox: unknown flag --databse-url for postbox status\nhint: run "postbox status --help" for usage\n');
    const group = await runCli(['dlq']);
    expect(group.code).toBe(2);
    expect(group.stderr).toContain('postbox dlq purge');
    // A flag missing its value before the next flag, and a value given to a switch, say so by the long name.
    const missing = await runCli(['dlq', 'purge', '--topic', '--yes']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("postbox: --topic needs a value (a value starting with '-' goes as --topic=-value)");
    const switched = await runCli(['dlq', 'purge', '--yes=1']);
    expect(switched.code).toBe(2);
    expect(switched.stderr).toContain('postbox: --yes does not take a value\n');
    for (const r of [command, flag, group]) expectNoSecrets(r);
  });

  it('lists a missing database URL with the other configuration problems, not after they are fixed', async () => {
    const relay = await runCli(['relay', '--batch-size', '0', '--rabbitmq-url', 'amqp://guest:rabbit-secret@127.0.0.1:1']);
    expect(relay.code).toBe(2);
    expect(relay.stderr).toMatch(/: 2 problems\n  - relay\.batchSize: [^\n]*\n  - database\.url: is required: pass --database-url/);
    const status = await runCli(['status', '--json', '--schema', 'Bad']);
    expect(status.code).toBe(2);
    expect(json(status).error.problems.map((p: { field: string }) => p.field)).toEqual(['database.schema', 'database.url']);
    for (const r of [relay, status]) expectNoSecrets(r);
  });

  it('names the flag a bad broker list came from, down to the broker at fault', async () => {
    const kafka = await runCli(['relay', '--database-url', 'postgres://app@127.0.0.1/app', '--kafka-brokers', '127.0.0.1:9092,broker-2']);
    expect(kafka.code).toBe(2);
    expect(kafka.stderr).toMatch(/  - transport\.brokers\[1\]: [^\n]* \(from --kafka-brokers\)\n/);
  });
});
