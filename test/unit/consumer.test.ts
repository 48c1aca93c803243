import { describe, it, expect } from 'vitest';
import { compose } from '../../src/consumer/compose.js';
import { createConsumedMessage } from '../../src/consumer/message.js';
import { attemptError, parseHistory, runHandler, trimHistory, type AttemptError } from '../../src/consumer/outcome.js';
import type { ConsumeContext, ConsumedMessage, Handler, Middleware } from '../../src/consumer/types.js';
import { ErrorCode, NonRetryableError, RetryLaterError, isNonRetryableError } from '../../src/errors.js';
import { DEFAULT_RETRY_POLICY } from '../../src/retry/policy.js';
import type { RetryPolicy } from '../../src/retry/types.js';

const NOW = new Date('2024-05-01T12:00:00.000Z');
const context: ConsumeContext = { consumer: 'billing', transport: 'memory', signal: new AbortController().signal };
const policy: RetryPolicy = {
  ...DEFAULT_RETRY_POLICY,
  maxAttempts: 3,
  backoff: { initialMs: 100, multiplier: 2, maxMs: 10_000, jitter: 'none' },
};

function message(overrides: Partial<Parameters<typeof createConsumedMessage>[0]> = {}): ConsumedMessage {
  return createConsumedMessage({
    id: '0190a5c8-0000-7000-8000-000000000001',
    topic: 'orders.created',
    key: 'o-1',
    payload: Buffer.from('{"total":12}'),
    contentType: 'application/json',
    headers: {},
    correlationId: null,
    replyTo: null,
    attempt: 1,
    ...overrides,
  });
}

const run = (handler: Handler, m: ConsumedMessage, history?: AttemptError[]) =>
  runHandler(handler, m, context, { policy, now: () => NOW, random: () => 0.5, ...(history ? { history } : {}) });

describe('compose', () => {
  it('makes the first middleware the outermost', async () => {
    const calls: string[] = [];
    const tag =
      (name: string): Middleware =>
      (next) =>
      async (m, c) => {
        calls.push(`${name}:before`);
        await next(m, c);
        calls.push(`${name}:after`);
      };
    const handler = compose(tag('a'), tag('b'), tag('c'))(async () => {
      calls.push('handler');
    });
    await handler(message(), context);
    expect(calls).toEqual(['a:before', 'b:before', 'c:before', 'handler', 'c:after', 'b:after', 'a:after']);
  });

  it('returns the handler itself when given no middleware', () => {
    const handler: Handler = async () => {};
    expect(compose()(handler)).toBe(handler);
  });
});

describe('runHandler', () => {
  it('acks when the handler succeeds', async () => {
    expect(await run(async () => {}, message())).toEqual({ kind: 'ack' });
  });

  it('retries a failing first attempt after the policy backoff, recording the error', async () => {
    const outcome = await run(async () => {
      throw Object.assign(new Error('db down'), { code: 'ECONNREFUSED' });
    }, message());
    expect(outcome).toMatchObject({ kind: 'retry', delayMs: 100 });
    if (outcome.kind !== 'retry') throw new Error('unreachable');
    expect(outcome.error.message).toBe('db down');
    expect(outcome.history).toEqual([{ at: NOW.toISOString(), attempt: 1, message: 'Error: db down', code: 'ECONNREFUSED' }]);
  });

  it('grows the delay with the attempt number', async () => {
    const outcome = await run(async () => {
      throw new Error('x');
    }, message({ attempt: 2 }));
    expect(outcome).toMatchObject({ kind: 'retry', delayMs: 200 });
  });

  it('dead-letters with max-attempts on the last attempt, keeping the earlier history', async () => {
    const earlier: AttemptError[] = [
      { at: '2024-05-01T11:00:00.000Z', attempt: 1, message: 'Error: one' },
      { at: '2024-05-01T11:30:00.000Z', attempt: 2, message: 'Error: two' },
    ];
    const outcome = await run(
      async () => {
        throw new Error('three');
      },
      message({ attempt: 3 }),
      earlier,
    );
    expect(outcome).toMatchObject({ kind: 'dead', reason: 'max-attempts' });
    if (outcome.kind !== 'dead') throw new Error('unreachable');
    expect(outcome.history.map((h) => h.message)).toEqual(['Error: one', 'Error: two', 'Error: three']);
    expect(outcome.history[2]).toMatchObject({ attempt: 3, at: NOW.toISOString() });
  });

  it('dead-letters a NonRetryableError at once with permanent-error', async () => {
    const outcome = await run(async () => {
      throw new NonRetryableError('invalid order');
    }, message());
    expect(outcome).toMatchObject({ kind: 'dead', reason: 'permanent-error' });
    if (outcome.kind !== 'dead') throw new Error('unreachable');
    expect(outcome.history).toEqual([
      { at: NOW.toISOString(), attempt: 1, message: 'NonRetryableError: invalid order', code: ErrorCode.NonRetryable },
    ]);
  });

  it('retries a RetryLaterError after the delay it carries, beyond the policy backoff', async () => {
    const outcome = await run(async () => {
      throw new RetryLaterError('rate limited', 42_000);
    }, message());
    expect(outcome).toMatchObject({ kind: 'retry', delayMs: 42_000 });
  });

  it('still dead-letters a RetryLaterError on the last attempt', async () => {
    const outcome = await run(async () => {
      throw new RetryLaterError('rate limited', 10);
    }, message({ attempt: 3 }));
    expect(outcome).toMatchObject({ kind: 'dead', reason: 'max-attempts' });
  });

  it('turns a thrown non-Error into an error instead of throwing', async () => {
    const outcome = await run(async () => {
      throw 'just a string';
    }, message());
    expect(outcome.kind).toBe('retry');
    if (outcome.kind !== 'retry') throw new Error('unreachable');
    expect(outcome.error).toBeInstanceOf(Error);
    expect(outcome.error.message).toBe('just a string');
  });

  it('dead-letters with max-age when the next attempt would be too late', async () => {
    const outcome = await runHandler(
      async () => {
        throw new Error('x');
      },
      message(),
      context,
      { policy: { ...policy, maxAgeMs: 1000 }, now: () => NOW, firstAttemptAt: new Date(NOW.getTime() - 950), random: () => 0.5 },
    );
    expect(outcome).toMatchObject({ kind: 'dead', reason: 'max-age' });
  });
});

describe('createConsumedMessage', () => {
  it('parses a JSON payload once and returns the same value again', () => {
    const m = message();
    const first = m.json<{ total: number }>();
    expect(first).toEqual({ total: 12 });
    expect(m.json()).toBe(first);
  });

  it('throws a NonRetryableError naming the message when the payload is not JSON', () => {
    const m = message({ payload: Buffer.from('{not json'), id: '0190a5c8-0000-7000-8000-0000000000ff' });
    let thrown: unknown;
    try {
      m.json();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(NonRetryableError);
    expect(isNonRetryableError(thrown)).toBe(true);
    expect((thrown as Error).message).toContain('0190a5c8-0000-7000-8000-0000000000ff');
    expect((thrown as Error).message).toContain('orders.created');
    expect((thrown as Error).cause).toBeInstanceOf(SyntaxError);
  });

  it('makes a handler that calls json() on garbage dead-letter at once', async () => {
    const outcome = await run(async (m) => {
      m.json();
    }, message({ payload: Buffer.from([0xff, 0x00]) }));
    expect(outcome).toMatchObject({ kind: 'dead', reason: 'permanent-error' });
  });

  it('is frozen', () => {
    expect(Object.isFrozen(message())).toBe(true);
  });
});

describe('error history helpers', () => {
  it('bounds an attempt error message to 2000 characters', () => {
    expect(attemptError(new Error('x'.repeat(5000)), 1, NOW).message).toHaveLength(2000);
  });

  it('trimHistory keeps the first and the last entries', () => {
    const history = Array.from({ length: 30 }, (_, i) => ({ at: NOW.toISOString(), attempt: i + 1, message: `e${i + 1}` }));
    const trimmed = trimHistory(history, 6);
    expect(trimmed.map((h) => h.attempt)).toEqual([1, 2, 3, 28, 29, 30]);
    expect(trimHistory(history.slice(0, 3), 6)).toHaveLength(3);
  });

  it('parseHistory reads a JSON header and tolerates garbage', () => {
    const entries = [{ at: NOW.toISOString(), attempt: 1, message: 'x' }];
    expect(parseHistory(JSON.stringify(entries))).toEqual(entries);
    expect(parseHistory(Buffer.from(JSON.stringify(entries)))).toEqual(entries);
    expect(parseHistory('{oops')).toEqual([]);
    expect(parseHistory('{"a":1}')).toEqual([]);
    expect(parseHistory(undefined)).toEqual([]);
    expect(parseHistory('[1, null, {"attempt":2}]')).toEqual([{ attempt: 2 }]);
  });
});
