import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ErrorCode, NonRetryableError, PostboxError, RetryLaterError } from '../../src/errors.js';
import { classifyError, decide } from '../../src/retry/decide.js';
import { DEFAULT_RETRY_POLICY } from '../../src/retry/policy.js';
import { Jitter, type AttemptFacts, type RetryPolicy } from '../../src/retry/types.js';

const T0 = new Date('2024-01-01T00:00:00Z');

const policy = (overrides: Partial<RetryPolicy> = {}): RetryPolicy => ({
  ...DEFAULT_RETRY_POLICY,
  backoff: { ...DEFAULT_RETRY_POLICY.backoff, jitter: Jitter.None },
  ...overrides,
});

const facts = (overrides: Partial<AttemptFacts> = {}): AttemptFacts => ({
  attempt: 1,
  error: new Error('boom'),
  createdAt: T0,
  now: T0,
  ...overrides,
});

const codeError = (code: string): Error => Object.assign(new Error('failed'), { code });

describe('classifyError', () => {
  it('treats a NonRetryableError as permanent', () => {
    expect(classifyError(policy(), new NonRetryableError('bad payload'))).toBe('permanent');
  });

  it('treats an error whose name is listed in nonRetryable as permanent', () => {
    expect(classifyError(policy({ nonRetryable: ['TypeError'] }), new TypeError('x'))).toBe('permanent');
  });

  it('treats an error whose code is listed in nonRetryable as permanent', () => {
    const p = policy({ nonRetryable: ['ECONNREFUSED', '23505'] });
    expect(classifyError(p, codeError('ECONNREFUSED'))).toBe('permanent');
    expect(classifyError(p, { code: 23505 })).toBe('permanent');
  });

  it('treats everything else as transient, including non-errors', () => {
    const p = policy({ nonRetryable: ['TypeError'] });
    expect(classifyError(p, new Error('x'))).toBe('transient');
    expect(classifyError(p, 'a string')).toBe('transient');
    expect(classifyError(p, null)).toBe('transient');
    expect(classifyError(p, undefined)).toBe('transient');
  });
});

describe('decide', () => {
  it('retries a transient failure after the backoff delay', () => {
    expect(decide(policy(), facts({ attempt: 1 }))).toEqual({ action: 'retry', delayMs: 1000 });
    expect(decide(policy(), facts({ attempt: 3 }))).toEqual({ action: 'retry', delayMs: 4000 });
  });

  it('applies jitter with the injected random source', () => {
    const p = policy({ backoff: { ...DEFAULT_RETRY_POLICY.backoff, jitter: Jitter.Full } });
    expect(decide(p, facts({ attempt: 2 }), () => 0.25)).toEqual({ action: 'retry', delayMs: 500 });
  });

  it('passes the previous delay to decorrelated jitter', () => {
    const p = policy({ backoff: { ...DEFAULT_RETRY_POLICY.backoff, jitter: Jitter.Decorrelated } });
    expect(decide(p, facts({ attempt: 2, previousDelayMs: 5000 }), () => 0.5)).toEqual({
      action: 'retry',
      delayMs: 1000 + 0.5 * (15_000 - 1000),
    });
  });

  it('dead-letters a permanent error at once, even on the first attempt', () => {
    expect(decide(policy(), facts({ error: new NonRetryableError('no') }))).toEqual({
      action: 'dead',
      reason: 'permanent-error',
    });
  });

  it('checks for a permanent error before the attempt count', () => {
    const decision = decide(policy({ maxAttempts: 1 }), facts({ error: new NonRetryableError('no') }));
    expect(decision).toEqual({ action: 'dead', reason: 'permanent-error' });
  });

  it('dead-letters with max-attempts when the attempts are used up', () => {
    expect(decide(policy({ maxAttempts: 3 }), facts({ attempt: 3 }))).toEqual({ action: 'dead', reason: 'max-attempts' });
    expect(decide(policy({ maxAttempts: 3 }), facts({ attempt: 2 })).action).toBe('retry');
  });

  it('dead-letters with unroutable when the attempts are used up and the last error was unroutable', () => {
    const error = new PostboxError(ErrorCode.Unroutable, 'no queue bound');
    expect(decide(policy({ maxAttempts: 2 }), facts({ attempt: 2, error }))).toEqual({ action: 'dead', reason: 'unroutable' });
    expect(decide(policy({ maxAttempts: 2 }), facts({ attempt: 1, error })).action).toBe('retry');
  });

  it('dead-letters with unroutable when the attempts are used up and the destination does not exist', () => {
    const error = new PostboxError(ErrorCode.DestinationNotFound, 'no such topic');
    expect(decide(policy({ maxAttempts: 2 }), facts({ attempt: 2, error }))).toEqual({ action: 'dead', reason: 'unroutable' });
  });

  it('uses the delay a RetryLaterError asks for, even above maxMs, and still counts the attempt', () => {
    const p = policy({ maxAttempts: 3, backoff: { ...DEFAULT_RETRY_POLICY.backoff, maxMs: 1000 } });
    const error = new RetryLaterError('rate limited', 90_000.2);
    expect(decide(p, facts({ attempt: 2, error }))).toEqual({ action: 'retry', delayMs: 90_001 });
    expect(decide(p, facts({ attempt: 3, error }))).toEqual({ action: 'dead', reason: 'max-attempts' });
  });

  it('dead-letters with max-age when the next attempt would come after maxAgeMs', () => {
    const p = policy({ maxAgeMs: 10_000 });
    const now = new Date(T0.getTime() + 9_000);
    expect(decide(p, facts({ attempt: 1, now }))).toEqual({ action: 'retry', delayMs: 1000 });
    expect(decide(p, facts({ attempt: 2, now }))).toEqual({ action: 'dead', reason: 'max-age' });
  });

  it('checks max-attempts before max-age', () => {
    const p = policy({ maxAttempts: 2, maxAgeMs: 1 });
    expect(decide(p, facts({ attempt: 2, now: new Date(T0.getTime() + 60_000) }))).toEqual({
      action: 'dead',
      reason: 'max-attempts',
    });
  });

  it('applies max-age to a RetryLaterError delay too', () => {
    const p = policy({ maxAgeMs: 60_000 });
    expect(decide(p, facts({ error: new RetryLaterError('later', 61_000) }))).toEqual({ action: 'dead', reason: 'max-age' });
  });

  const policyArb = fc
    .record({
      maxAttempts: fc.integer({ min: 1, max: 50 }),
      maxAgeMs: fc.option(fc.integer({ min: 1, max: 1e9 }), { nil: undefined }),
      initialMs: fc.integer({ min: 0, max: 10_000 }),
      multiplier: fc.double({ min: 1, max: 5, noNaN: true }),
      extraMs: fc.integer({ min: 0, max: 1e6 }),
      jitter: fc.constantFrom(...Object.values(Jitter)),
    })
    .map(
      ({ maxAttempts, maxAgeMs, initialMs, multiplier, extraMs, jitter }): RetryPolicy =>
        policy({ maxAttempts, maxAgeMs, backoff: { initialMs, multiplier, maxMs: initialMs + extraMs, jitter } }),
    );
  const errorArb = fc.oneof(
    fc.constant<unknown>(new Error('transient')),
    fc.constant<unknown>(new NonRetryableError('permanent')),
    fc.constant<unknown>(new PostboxError(ErrorCode.Unroutable, 'unroutable')),
    fc.integer({ min: 0, max: 1e7 }).map((ms): unknown => new RetryLaterError('later', ms)),
  );
  const factsArb = fc.record({
    attempt: fc.integer({ min: 1, max: 10_000 }),
    error: errorArb,
    ageMs: fc.integer({ min: 0, max: 1e9 }),
    previousDelayMs: fc.option(fc.integer({ min: 0, max: 1e7 }), { nil: undefined }),
    r: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  });

  it('never retries when attempt >= maxAttempts (property)', () => {
    fc.assert(
      fc.property(policyArb, factsArb, fc.integer({ min: 0, max: 100 }), (p, f, extra) => {
        const decision = decide(
          p,
          { ...facts({ error: f.error, now: new Date(T0.getTime() + f.ageMs) }), attempt: p.maxAttempts + extra },
          () => f.r,
        );
        expect(decision.action).toBe('dead');
      }),
    );
  });

  it('retries only with integer delays within [0, maxMs] unless the error is a RetryLaterError (property)', () => {
    fc.assert(
      fc.property(policyArb, factsArb, (p, f) => {
        const decision = decide(
          p,
          facts({ attempt: f.attempt, error: f.error, now: new Date(T0.getTime() + f.ageMs), previousDelayMs: f.previousDelayMs }),
          () => f.r,
        );
        if (decision.action !== 'retry') return;
        expect(Number.isInteger(decision.delayMs)).toBe(true);
        expect(decision.delayMs).toBeGreaterThanOrEqual(0);
        if (!(f.error instanceof RetryLaterError)) expect(decision.delayMs).toBeLessThanOrEqual(p.backoff.maxMs);
        if (p.maxAgeMs !== undefined) expect(f.ageMs + decision.delayMs).toBeLessThanOrEqual(p.maxAgeMs);
      }),
    );
  });
});
