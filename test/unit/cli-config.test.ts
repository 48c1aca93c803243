import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCommandLine, COMMON_FLAGS, RELAY_FLAGS, TRANSPORT_FLAGS, UsageError } from '../../src/cli/args.js';
import { loadInputs } from '../../src/cli/config/load.js';
import { resolveConfig, type ResolveInput } from '../../src/cli/config/resolve.js';
import type { Problem } from '../../src/errors.js';

const FILE = 'postbox.config.json';
const file = (data: unknown): ResolveInput['file'] => ({ path: FILE, data });
const resolve = (input: Partial<ResolveInput>) => resolveConfig({ flags: {}, env: {}, ...input });
const fields = (problems: readonly Problem[]) => problems.map((p) => p.field).sort();

describe('postbox configuration: precedence (flags > env > file, per field)', () => {
  it('takes each field from the highest source that sets it', () => {
    const { config, problems } = resolve({
      flags: { schema: 'from_flag' },
      env: { POSTBOX_SCHEMA: 'from_env', DATABASE_URL: 'postgres://env-host/db', POSTBOX_LEASE_MS: '5000' },
      file: file({ database: { url: 'postgres://file-host/db', schema: 'from_file' }, relay: { leaseMs: 9000, batchSize: 50 }, logLevel: 'debug' }),
    });
    expect(problems).toEqual([]);
    expect(config.database).toEqual({ url: 'postgres://env-host/db', schema: 'from_flag' });
    expect(config.relay).toEqual({ leaseMs: 5000, batchSize: 50 });
    expect(config.logLevel).toBe('debug');
    expect(config.file).toBe(FILE);
  });

  it('does not report a bad file value that a flag overrides', () => {
    const { config, problems } = resolve({ flags: { 'batch-size': '20' }, file: file({ relay: { batchSize: 0 } }) });
    expect(problems).toEqual([]);
    expect(config.relay.batchSize).toBe(20);
  });

  it('ignores empty environment variables and defaults the schema to postbox', () => {
    const { config, problems } = resolve({ env: { DATABASE_URL: '', POSTBOX_SCHEMA: ' ' } });
    expect(problems).toEqual([]);
    expect(config.database).toEqual({ url: undefined, schema: 'postbox' });
  });

  it('uses the policies file named by --policies or POSTBOX_POLICIES over the config file\'s policies', () => {
    const { config, problems } = resolve({
      policies: { data: { default: { maxAttempts: 3 } }, label: 'in p.json, from --policies' },
      file: file({ policies: { default: { maxAttempts: 7 } } }),
    });
    expect(problems).toEqual([]);
    expect(config.policies).toEqual({ default: { maxAttempts: 3 } });
  });
});

describe('postbox configuration: transport', () => {
  it('merges the file\'s adapter options with the broker address of a flag', () => {
    const { config, problems } = resolve({
      flags: { 'rabbitmq-url': 'amqp://flag-host' },
      env: { POSTBOX_TRANSPORT: 'rabbitmq' },
      file: file({ transport: { type: 'rabbitmq', url: 'amqp://file-host', publishTimeoutMs: 2000 } }),
    });
    expect(problems).toEqual([]);
    expect(config.transport).toEqual({ type: 'rabbitmq', options: { url: 'amqp://flag-host', publishTimeoutMs: 2000 } });
  });

  it('infers the transport from the one broker given, and splits a Kafka broker list', () => {
    expect(resolve({ env: { POSTBOX_KAFKA_BROKERS: 'a:9092, b:9092' } }).config.transport).toEqual({ type: 'kafka', options: { brokers: ['a:9092', 'b:9092'] } });
    expect(resolve({ flags: { 'redis-url': 'redis://r:6379' }, env: { POSTBOX_RABBITMQ_URL: 'amqp://x' } }).config.transport).toEqual({ type: 'bullmq', options: { connection: 'redis://r:6379' } });
    expect(resolve({}).config.transport).toBeUndefined();
  });

  it('drops the file\'s options when a flag picks another transport', () => {
    const { config } = resolve({ flags: { transport: 'kafka', 'kafka-brokers': 'k:9092' }, file: file({ transport: { type: 'rabbitmq', url: 'amqp://h', routes: {} } }) });
    expect(config.transport).toEqual({ type: 'kafka', options: { brokers: ['k:9092'] } });
  });

  it('reports two brokers without a transport, and a broker flag for another transport', () => {
    const ambiguous = resolve({ env: { POSTBOX_RABBITMQ_URL: 'amqp://x', POSTBOX_REDIS_URL: 'redis://y' } });
    expect(ambiguous.problems).toEqual([{ field: 'transport.type', message: expect.stringContaining('POSTBOX_RABBITMQ_URL and POSTBOX_REDIS_URL are both set') }]);
    const mismatch = resolve({ flags: { 'redis-url': 'redis://y' }, file: file({ transport: { type: 'rabbitmq', url: 'amqp://x' } }) });
    expect(mismatch.problems).toEqual([{ field: '--redis-url', message: expect.stringContaining(`the transport is rabbitmq (in ${FILE})`) }]);
    expect(resolve({ flags: { transport: 'nats' } }).problems).toEqual([{ field: 'transport.type', message: 'must be one of rabbitmq, kafka, bullmq, got "nats" (from --transport)' }]);
  });
});

describe('postbox configuration: validation', () => {
  it('lists every problem of a config file at once, each naming its field and source', () => {
    const { problems } = resolve({
      file: file({
        database: { url: 'mysql://u:secret@h/db', schema: 'Bad-Name', port: 5432 },
        transport: { url: 'amqp://h' },
        policies: { topics: { 'orders.*': { backoff: { maxMs: -1 } } }, defaults: {} },
        relay: { batchSize: 0, leaseMS: 10 },
        metrics: { port: 70_000, host: '' },
        logLevel: 'loud',
        extra: true,
      }),
    });
    expect(fields(problems)).toEqual(
      [
        'extra',
        'database.port',
        'database.url',
        'database.schema',
        'transport.type',
        'policies.topics["orders.*"].backoff.maxMs',
        'policies.defaults',
        'relay.batchSize',
        'relay.leaseMS',
        'metrics.port',
        'metrics.host',
        'logLevel',
      ].sort(),
    );
    for (const problem of problems) expect(problem.message).toContain(`(in ${FILE})`);
    expect(JSON.stringify(problems)).not.toContain('secret');
  });

  it('names the flag or variable a bad value came from', () => {
    const { problems } = resolve({ flags: { 'metrics-port': 'abc', 'log-level': 'chatty' }, env: { POSTBOX_BATCH_SIZE: '-3', DATABASE_URL: 'not a url' } });
    expect(problems).toEqual(
      expect.arrayContaining([
        { field: 'metrics.port', message: expect.stringMatching(/from --metrics-port\)$/) },
        { field: 'logLevel', message: expect.stringMatching(/got "chatty" \(from --log-level\)$/) },
        { field: 'relay.batchSize', message: expect.stringMatching(/from POSTBOX_BATCH_SIZE\)$/) },
        { field: 'database.url', message: expect.stringMatching(/does not parse as a URL.*\(from DATABASE_URL\)$/) },
      ]),
    );
    expect(problems).toHaveLength(4);
  });

  it('rejects a config file that is not an object', () => {
    expect(resolve({ file: file(['database']) }).problems).toEqual([{ field: '(config file)', message: expect.stringContaining('got an array') }]);
  });

  it('checks relay settings with the relay\'s own bounds', () => {
    const { problems } = resolve({ file: file({ relay: { minPollIntervalMs: 50, maxPollIntervalMs: 10, listen: 'yes' } }) });
    expect(fields(problems)).toEqual(['relay.listen', 'relay.maxPollIntervalMs']);
  });
});

describe('postbox flags', () => {
  const spec = { ...COMMON_FLAGS, ...TRANSPORT_FLAGS, ...RELAY_FLAGS };

  it('parses a command\'s flags and positionals', () => {
    expect(parseCommandLine('dlq show', ['abc', '--json'], COMMON_FLAGS, 1)).toEqual({ flags: { json: true }, positionals: ['abc'] });
  });

  it('turns unknown flags, missing values and extra arguments into usage errors naming the command', () => {
    const usage = (argv: string[]) => {
      try {
        parseCommandLine('relay', argv, spec);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        return (error as Error).message;
      }
      throw new Error('expected a UsageError');
    };
    expect(usage(['--rabbit-url', 'amqp://x'])).toBe('unknown flag --rabbit-url for postbox relay');
    expect(usage(['--schema'])).toBe('--schema needs a value');
    expect(usage(['extra'])).toBe('postbox relay does not take arguments: "extra"');
  });
});

describe('postbox configuration: files', () => {
  it('never quotes a config file that is not JSON, where a password may sit next to the mistake', async () => {
    const problemIn = async (text: string): Promise<string> => {
      const dir = mkdtempSync(join(tmpdir(), 'postbox-config-'));
      writeFileSync(join(dir, 'postbox.config.json'), text);
      const { problems } = await loadInputs({}, {}, dir);
      expect(problems).toHaveLength(1);
      return problems[0]!.message;
    };
    const singleQuoted = await problemIn(`{\n  "database": {\n    "url": 'postgres://app:Sup3rSecret@db/app'\n  }\n}\n`);
    expect(singleQuoted).not.toMatch(/Sup3r|postgres/);
    expect(singleQuoted).toBe("postbox.config.json is not valid JSON: Unexpected token ''' on line 3 (strings, passwords included, must be in double quotes)");
    const unquoted = await problemIn('{"password": Sup3rSecret}');
    expect(unquoted).not.toMatch(/Sup3r|"password"/);
    expect(unquoted).toContain("Unexpected token 'S' on line 1");
  });
});
