import { describe, it, expect } from 'vitest';
import { NonRetryableError, isNonRetryableError } from '../../src/errors.js';
import { sendWithRetries } from '../../src/facade/direct.js';
import { encodeRoute, routeOf, wireHeaders } from '../../src/facade/route.js';
import { facadeTarget } from '../../src/facade/scope.js';
import { runInScope, currentTransaction } from '../../src/db/ambient.js';
import { Header } from '../../src/message.js';
import { CONNECTION } from '../../src/signals.js';
import { compileRetryPolicies } from '../../src/retry/policy.js';
import type { Queryable } from '../../src/db/queryable.js';

const policy = (maxAttempts: number) =>
  compileRetryPolicies({ default: { maxAttempts, backoff: { initialMs: 10, multiplier: 2, maxMs: 1_000, jitter: 'none' } } }).default;
const connectionOf = (db: Queryable | undefined): unknown => (db as { [CONNECTION]?: unknown } | undefined)?.[CONNECTION];
const fakeDb = (): Queryable => ({ query: async () => ({ rows: [] }) });

describe('routes', () => {
  const message = (headers: Record<string, string>) => ({ id: '0190b6a2-0000-7000-8000-000000000001', headers });

  it('reads the route written for this transport', () => {
    const route = encodeRoute({ transport: 'kafka', topic: 'orders', partition: 2 });
    expect(routeOf(message({ [Header.Route]: route }), 'kafka')).toEqual({ transport: 'kafka', topic: 'orders', partition: 2 });
  });

  it('has no route for an ordinary message', () => {
    expect(routeOf(message({ 'x-tenant': 'a' }), 'kafka')).toBeUndefined();
  });

  it("refuses another transport's route as permanent, naming both transports", () => {
    const error = (() => {
      try {
        routeOf(message({ [Header.Route]: encodeRoute({ transport: 'bullmq', queue: 'q' }) }), 'rabbitmq');
      } catch (thrown) {
        return thrown;
      }
    })();
    expect(isNonRetryableError(error)).toBe(true);
    expect((error as Error).message).toMatch(/bullmq facade.*publishes to rabbitmq/);
  });

  it('refuses a route header that is not JSON as permanent', () => {
    expect(() => routeOf(message({ [Header.Route]: '{nope' }), 'kafka')).toThrow(NonRetryableError);
  });

  it('strips the route from the wire headers and keeps the rest', () => {
    const headers = { [Header.Route]: '{}', 'x-tenant': 'a' };
    expect(wireHeaders(headers)).toEqual({ 'x-tenant': 'a' });
    const plain = { 'x-tenant': 'a' };
    expect(wireHeaders(plain)).toBe(plain);
  });
});

describe('sendWithRetries', () => {
  it('retries transient failures with the policy backoff, then returns the result', async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await sendWithRetries(
      async () => {
        calls++;
        if (calls < 3) throw new Error('broker blip');
        return 'sent';
      },
      policy(5),
      { sleep: async (ms) => void delays.push(ms) },
    );
    expect(result).toBe('sent');
    expect(delays).toEqual([10, 20]);
  });

  it('throws the last error when attempts run out', async () => {
    let calls = 0;
    await expect(
      sendWithRetries(async () => {
        calls++;
        throw new Error(`failure ${calls}`);
      }, policy(3), { sleep: async () => undefined }),
    ).rejects.toThrow('failure 3');
    expect(calls).toBe(3);
  });

  it('does not retry a permanent error', async () => {
    let calls = 0;
    await expect(
      sendWithRetries(async () => {
        calls++;
        throw new NonRetryableError('bad message');
      }, policy(5), { sleep: async () => undefined }),
    ).rejects.toThrow('bad message');
    expect(calls).toBe(1);
  });
});

describe('facadeTarget', () => {
  it('is undefined outside any transaction and without a bound one', () => {
    expect(facadeTarget(undefined)).toBeUndefined();
  });

  it('uses the ambient transaction and tracks writes in it', async () => {
    const db = fakeDb();
    let failedWrite: Promise<void> | undefined;
    await expect(
      runInScope(db, async () => {
        const target = facadeTarget(undefined);
        expect(connectionOf(target?.db)).toBe(db);
        failedWrite = Promise.reject(new Error('insert failed'));
        target?.track(failedWrite);
      }),
    ).rejects.toThrow('insert failed');
    expect(currentTransaction()).toBeUndefined();
  });

  it('prefers a bound transaction over the ambient one', async () => {
    const ambient = fakeDb();
    const bound = fakeDb();
    await runInScope(ambient, async () => {
      expect(connectionOf(facadeTarget(bound)?.db)).toBe(bound);
    });
  });

  it('waits for a tracked write that was not awaited before the scope ends', async () => {
    const order: string[] = [];
    await runInScope(fakeDb(), async () => {
      facadeTarget(undefined)?.track(
        new Promise<void>((resolve) => setTimeout(() => {
          order.push('write');
          resolve();
        }, 5)),
      );
    });
    order.push('commit');
    expect(order).toEqual(['write', 'commit']);
  });

  it('runs facade queries on one connection one after another, even when started together', async () => {
    let active = 0;
    let maxActive = 0;
    const db: Queryable = {
      query: async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((resolve) => setImmediate(resolve));
        active--;
        return { rows: [] };
      },
    };
    await runInScope(db, async () => {
      const target = facadeTarget(undefined);
      await Promise.all([1, 2, 3].map(() => target?.db.query('INSERT ...')));
    });
    expect(maxActive).toBe(1);
  });
});
