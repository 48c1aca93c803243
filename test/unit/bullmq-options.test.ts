import { describe, expect, it } from 'vitest';
import { BULLMQ_DEFAULTS, createBullMQTransport, POSTBOX_BACKOFF_TYPE } from '../../adapters/bullmq/index.js';
import { classifyRedisError } from '../../adapters/bullmq/classify.js';
import { reconnectDelayMs } from '../../adapters/bullmq/connection.js';
import { resolveTransportOptions } from '../../adapters/bullmq/options.js';
import { createRouter } from '../../adapters/bullmq/routes.js';
import { ConfigError } from '../../src/errors.js';

function problemsOf(options: unknown): Array<{ field: string; message: string }> {
  try {
    resolveTransportOptions(options);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('bullmq transport options', () => {
  it('has documented defaults and connects lazily', async () => {
    const resolved = resolveTransportOptions({ connection: 'redis://127.0.0.1:6379' });
    expect(resolved).toMatchObject({
      prefix: 'bull',
      jobData: 'envelope',
      publishTimeoutMs: 10_000,
      connectTimeoutMs: 5_000,
      retain: { completedMs: 7 * 24 * 3600 * 1000, failedMs: 7 * 24 * 3600 * 1000 },
      reconnect: { initialMs: 100, maxMs: 5_000 },
    });
    expect(Object.isFrozen(resolved)).toBe(true);
    const transport = createBullMQTransport({ connection: 'redis://127.0.0.1:1' }); // nothing listens: no I/O until used
    expect(transport.preferredChunkSize).toBe(BULLMQ_DEFAULTS.preferredChunkSize);
    await transport.close();
  });

  it('reports every problem at once, naming each field, without echoing the password', () => {
    const problems = problemsOf({
      connection: 'http://user:hunter2@host:6379',
      routes: { 'orders.#': { queue: 'a:b', jobOptions: { jobId: 'x', removeOnComplete: true, removeOnFail: 1000, priority: 1.5 } }, 'bad..pattern': { queue: 'q' } },
      retain: { completedMs: 0 },
      jobData: 'json',
      publishTimeoutMs: -1,
      reconnect: { initialMs: 500, maxMs: 100 },
      policies: { default: { maxAttempts: 0 } },
      extra: true,
    });
    const fields = problems.map((p) => p.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'connection',
        'routes["orders.#"].queue',
        'routes["orders.#"].jobOptions.jobId',
        'routes["orders.#"].jobOptions.removeOnComplete',
        'routes["orders.#"].jobOptions.removeOnFail',
        'routes["orders.#"].jobOptions.priority',
        'routes["bad..pattern"]',
        'retain.completedMs',
        'jobData',
        'publishTimeoutMs',
        'reconnect.maxMs',
        'policies.default.maxAttempts',
        'extra',
      ]),
    );
    expect(JSON.stringify(problems)).not.toContain('hunter2');
    expect(problems.find((p) => p.field === 'connection')!.message).toContain('***');
  });

  it('refuses a URL whose credentials were not percent-encoded, without echoing them, and a logger missing methods', () => {
    const problems = problemsOf({ connection: 'redis://default:1234/xyzSECRET@127.0.0.1:6379', logger: { warn: () => undefined } });
    expect(problems.map((p) => p.field)).toEqual(['connection', 'logger']);
    expect(problems[0]!.message).toContain('percent-encoded');
    expect(JSON.stringify(problems)).not.toContain('SECRET');
  });

  it('requires a connection or queues, and refuses ioredis options that would defeat failing fast', () => {
    expect(problemsOf({}).map((p) => p.field)).toEqual(['connection']);
    const fields = problemsOf({ connection: { host: 'h', enableOfflineQueue: true, keyPrefix: 'x', retryStrategy: () => 1, password: 42 } }).map((p) => p.field);
    expect(fields).toEqual(expect.arrayContaining(['connection.enableOfflineQueue', 'connection.keyPrefix', 'connection.retryStrategy', 'connection.password']));
    const onlyQueues = problemsOf({ queues: [{ name: 'x' }], prefix: 'p', routes: { a: { queue: 'nope' } } }).map((p) => p.field);
    expect(onlyQueues).toEqual(expect.arrayContaining(['queues[0]', 'prefix', 'routes["a"].queue']));
  });

  it('refuses retention by count, age 0, and retention shorter than the retry policies may republish', () => {
    const problems = problemsOf({
      connection: 'redis://h',
      routes: {
        a: { queue: 'a', jobOptions: { removeOnComplete: { age: 0 }, removeOnFail: { age: 60, count: 10 } } },
        b: { queue: 'b', jobOptions: { removeOnFail: { age: 60 } } },
      },
      retain: { completedMs: 1_000 },
      // 10 + 20 + 40 + 60 s of backoff, and 5 publish timeouts of 10 s: 180 s
      policies: { default: { maxAttempts: 5, backoff: { initialMs: 10_000, multiplier: 2, maxMs: 60_000 } } },
    });
    const byField = new Map(problems.map((p) => [p.field, p.message]));
    expect(byField.get('routes["a"].jobOptions.removeOnComplete.age')).toMatch(/> 0/);
    expect(byField.get('routes["a"].jobOptions.removeOnFail.count')).toMatch(/count/);
    expect(byField.get('retain.completedMs')).toMatch(/180000 ms/);
    expect(byField.get('routes["b"].jobOptions.removeOnFail.age')).toMatch(/shorter than/);
  });

  it('counts decorrelated jitter at its longest: each delay up to three times the previous one', () => {
    const policy = { maxAttempts: 5, backoff: { initialMs: 1_000, multiplier: 2, maxMs: 60_000, jitter: 'decorrelated' as const } };
    // delays at most 1, 3, 9, 27 s (not 1, 2, 4, 8 s), plus 5 publish timeouts of 1 s
    const problems = problemsOf({ connection: 'redis://h', publishTimeoutMs: 1_000, retain: { completedMs: 16_000 }, policies: { default: policy } });
    expect(problems.find((p) => p.field === 'retain.completedMs')?.message).toMatch(/45000 ms/);
    expect(() => resolveTransportOptions({ connection: 'redis://h', publishTimeoutMs: 1_000, retain: { completedMs: 45_000, failedMs: 45_000 }, policies: { default: policy } })).not.toThrow();
  });
});

describe('bullmq routing and job options', () => {
  it('routes by the most specific pattern, falls back to the queue named like the topic, and maps the policy', () => {
    const config = resolveTransportOptions({
      connection: 'redis://h',
      routes: { 'orders.#': { queue: 'orders' }, 'orders.vip': { queue: 'vip', jobName: 'v', jobOptions: { attempts: 2, priority: 1 } } },
      policies: { default: { maxAttempts: 3 }, topics: { 'orders.*': { maxAttempts: 9 } } },
      retain: { completedMs: 345_500 }, // >= 345 s: 1 + 2 + ... + 128 s of the default backoff over 9 attempts, and 9 publish timeouts of 10 s
    });
    const route = createRouter(config.routes, config.policies, config.retain);
    expect(route('orders.created')).toEqual({
      ok: true,
      queue: 'orders',
      jobName: 'orders.created',
      options: { attempts: 9, backoff: { type: POSTBOX_BACKOFF_TYPE }, removeOnComplete: { age: 346 }, removeOnFail: { age: 7 * 24 * 3600 } },
    });
    expect(route('orders.vip')).toMatchObject({ queue: 'vip', jobName: 'v', options: { attempts: 2, priority: 1 } });
    expect(route('billing.paid')).toMatchObject({ ok: true, queue: 'billing.paid', options: { attempts: 3 } });
    expect(route('odd:topic')).toMatchObject({ ok: false, problem: expect.stringMatching(/Add a route/) });
  });
});

describe('bullmq failure classification', () => {
  it('tells not sent, lost, timed out, refused and invalid apart', () => {
    const reply = Object.assign(new Error('OOM command not allowed when used memory > maxmemory'), { name: 'ReplyError' });
    expect(classifyRedisError(new Error("Stream isn't writeable and enableOfflineQueue options is false")).kind).toBe('not-sent');
    expect(classifyRedisError(Object.assign(new Error('Reached the max retries per request limit (which is 0).'), { name: 'MaxRetriesPerRequestError' })).kind).toBe('connection');
    expect(classifyRedisError(new Error('Connection is closed.')).kind).toBe('connection');
    expect(classifyRedisError(new Error('Command timed out')).kind).toBe('timeout');
    expect(classifyRedisError(reply).kind).toBe('rejected');
    expect(classifyRedisError(new Error('Priority should not be float')).kind).toBe('invalid');
    expect(classifyRedisError(new Error('connect to redis://u:secret@h failed')).reason).not.toContain('secret');
  });

  it('reconnects with capped exponential backoff and equal jitter', () => {
    const reconnect = { initialMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 50].map((n) => reconnectDelayMs(reconnect, n, () => 1))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
    expect(reconnectDelayMs(reconnect, 3, () => 0)).toBe(200);
  });
});
