import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { attemptLogLine, parseAttemptLog } from '../../adapters/bullmq/attempt-log.js';
import { postboxBackoffStrategy, PostboxRetryError } from '../../adapters/bullmq/backoff-strategy.js';
import { buildDeadLetter, deadLetterJobId } from '../../adapters/bullmq/dead-letters.js';
import { createBullMQWorker, postboxProcessor, replayBullMQDeadLetters } from '../../adapters/bullmq/index.js';
import { BULLMQ_WORKER_DEFAULTS, resolveWorkerOptions } from '../../adapters/bullmq/worker-options.js';
import { ConfigError, NonRetryableError, RetryLaterError } from '../../src/errors.js';

const handler = async (): Promise<void> => undefined;

function problemsOf(fn: () => unknown): Array<{ field: string; message: string }> {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('bullmq worker options', () => {
  it('fills in the defaults: consumer and dead-letter queue from the queue name', () => {
    const config = resolveWorkerOptions({ queue: 'orders', connection: 'redis://127.0.0.1:6379', handler });
    expect(config).toMatchObject({
      queue: 'orders',
      consumer: 'orders',
      deadLetterQueue: 'orders.dead',
      concurrency: BULLMQ_WORKER_DEFAULTS.concurrency,
      startTimeoutMs: BULLMQ_WORKER_DEFAULTS.startTimeoutMs,
      middleware: [],
      workerOptions: {},
    });
    expect(config.policies.forTopic('orders.created').maxAttempts).toBe(10);
  });

  it('reports every problem at once in one ConfigError naming each field', () => {
    const problems = problemsOf(() =>
      createBullMQWorker({
        queue: 'bad:name',
        connection: 'http://127.0.0.1:6379',
        handler: 'not a function' as never,
        middleware: [handler, 42 as never],
        concurrency: 0,
        policies: { default: { maxAttempts: 0 } },
        workerOptions: { connection: {} as never, lockDuration: -1, maxStalledCount: 1.5 } as never,
        startTimeoutMs: -5,
        prefetch: 10,
      } as never),
    );
    expect(problems.map((p) => p.field).sort()).toEqual(
      [
        'concurrency',
        'connection',
        'handler',
        'middleware[1]',
        'policies.default.maxAttempts',
        'prefetch',
        'queue',
        'startTimeoutMs',
        'workerOptions.connection',
        'workerOptions.lockDuration',
        'workerOptions.maxStalledCount',
      ].sort(),
    );
    expect(problems.find((p) => p.field === 'queue')!.message).toMatch(/must not contain ':'/);
    expect(problems.find((p) => p.field === 'connection')!.message).toMatch(/redis:\/\/ or rediss:\/\//);
  });

  it('rejects a dead-letter queue equal to the queue and a missing connection', () => {
    const problems = problemsOf(() => createBullMQWorker({ queue: 'q', deadLetterQueue: 'q', handler } as never));
    expect(problems.map((p) => p.field).sort()).toEqual(['connection', 'deadLetterQueue']);
  });

  it('rejects an ioredis client a worker cannot block on (maxRetriesPerRequest not null)', () => {
    const client = new Redis({ lazyConnect: true, maxRetriesPerRequest: 3 });
    try {
      const problems = problemsOf(() => createBullMQWorker({ queue: 'q', connection: client, handler }));
      expect(problems).toEqual([{ field: 'connection', message: expect.stringMatching(/maxRetriesPerRequest: null/) }]);
    } finally {
      client.disconnect();
    }
  });

  it('validates the processor and replay options too', () => {
    expect(problemsOf(() => postboxProcessor({ connection: 42, handler, deadLetterQueue: '' } as never)).map((p) => p.field).sort()).toEqual([
      'connection',
      'deadLetterQueue',
    ]);
    return expect(replayBullMQDeadLetters({ connection: 'redis://x', limit: 0, ids: [''], newIds: 'yes' } as never)).rejects.toMatchObject({
      problems: [
        { field: 'queue', message: expect.any(String) },
        { field: 'ids[0]', message: expect.any(String) },
        { field: 'limit', message: expect.any(String) },
        { field: 'newIds', message: expect.any(String) },
      ],
    });
  });
});

describe('postboxBackoffStrategy', () => {
  const policies = { default: { maxAttempts: 4, backoff: { initialMs: 100, multiplier: 2, maxMs: 1_000, jitter: 'full' as const } } };
  const job = { name: 'orders.created', data: {}, timestamp: Date.now() } as never;

  it('returns the delay the postbox processor decided', () => {
    const strategy = postboxBackoffStrategy(policies);
    expect(strategy(1, 'postbox', new PostboxRetryError(new Error('x'), 1234), job)).toBe(1234);
  });

  it("applies the topic policy's capped, jittered delay for other processors' failures", () => {
    const strategy = postboxBackoffStrategy(policies, { random: () => 0.5 });
    expect(strategy(1, 'postbox', new Error('x'), job)).toBe(50); // full jitter: 0.5 * 100
    expect(strategy(3, 'postbox', new Error('x'), job)).toBe(200); // 0.5 * 400
    expect(strategy(2, 'postbox', new RetryLaterError('busy', 7_000), job)).toBe(7_000); // its own delay wins, beyond maxMs
  });

  it('returns -1 (no retry) when the policy gives up', () => {
    const strategy = postboxBackoffStrategy(policies);
    expect(strategy(4, 'postbox', new Error('x'), job)).toBe(-1);
    expect(strategy(1, 'postbox', new NonRetryableError('bad'), job)).toBe(-1);
  });

  it('delegates other backoff types to the fallback', () => {
    const strategy = postboxBackoffStrategy(policies, { fallback: (attempts, type) => (type === 'mine' ? attempts * 10 : 0) });
    expect(strategy(3, 'mine', new Error('x'), job)).toBe(30);
  });
});

describe('the error history in the job log', () => {
  it('keeps one entry per attempt (the last line wins), ascending, skipping other lines', () => {
    const lines = [
      attemptLogLine({ at: '2024-01-01T00:00:02.000Z', attempt: 2, message: 'Error: second' }, 400),
      'a line of the handler',
      attemptLogLine({ at: '2024-01-01T00:00:01.000Z', attempt: 1, message: 'Error: first' }, 100),
      attemptLogLine({ at: '2024-01-01T00:00:03.000Z', attempt: 2, message: 'Error: second, re-run' }, 300),
      'postbox:attempt-failed {not json',
    ];
    const log = parseAttemptLog(lines);
    expect(log.history).toEqual([
      { at: '2024-01-01T00:00:01.000Z', attempt: 1, message: 'Error: first' },
      { at: '2024-01-01T00:00:03.000Z', attempt: 2, message: 'Error: second, re-run' },
    ]);
    expect(log.previousDelayMs).toBe(300);
  });
});

describe('dead letters', () => {
  it('use the message id as job id when BullMQ accepts it', () => {
    expect(deadLetterJobId('0190a0b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b')).toBe('0190a0b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b');
    expect(deadLetterJobId('42')).toBe('dead-42');
    expect(deadLetterJobId('a:b')).toBe('dead-a-b');
  });

  it('carry the original job and the facts of its death', () => {
    const history = [
      { at: '2024-01-01T00:00:01.000Z', attempt: 1, message: 'Error: one' },
      { at: '2024-01-01T00:00:02.000Z', attempt: 2, message: 'Error: two' },
    ];
    const data = buildDeadLetter({
      queue: 'orders',
      job: { id: 'm-1', name: 'orders.created', data: { a: 1 }, opts: { attempts: 2, backoff: { type: 'postbox' }, delay: 5 }, timestamp: 1, attemptsMade: 1 },
      message: { id: 'm-1', topic: 'orders.created', key: 'k' },
      reason: 'max-attempts',
      consumer: 'orders',
      attempt: 2,
      history,
      now: new Date('2024-01-01T00:00:03.000Z'),
    });
    expect(data).toMatchObject({
      postboxDeadLetter: 1,
      messageId: 'm-1',
      reason: 'max-attempts',
      attempts: 2,
      errors: history,
      lastError: 'Error: two',
      firstFailedAt: '2024-01-01T00:00:01.000Z',
      lastFailedAt: '2024-01-01T00:00:02.000Z',
      original: { queue: 'orders', jobId: 'm-1', name: 'orders.created', data: { a: 1 }, opts: { attempts: 2, backoff: { type: 'postbox' } } },
    });
  });
});
