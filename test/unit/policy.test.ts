import { describe, it, expect } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_RETRY_POLICY, compileRetryPolicies, orderingCaseSql } from '../../src/retry/policy.js';
import type { RetryPoliciesInput } from '../../src/retry/types.js';

/** Compiles input that must be rejected and returns its problems as `field: message` lines. */
function problemsOf(input: unknown): string[] {
  try {
    compileRetryPolicies(input as RetryPoliciesInput);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems.map((p) => `${p.field}: ${p.message}`);
  }
  throw new Error('expected compileRetryPolicies to throw');
}

describe('DEFAULT_RETRY_POLICY', () => {
  it('has the documented defaults', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({
      maxAttempts: 10,
      backoff: { initialMs: 1000, multiplier: 2, maxMs: 300_000, jitter: 'full' },
      ordering: 'key',
      nonRetryable: [],
    });
    expect('maxAgeMs' in DEFAULT_RETRY_POLICY).toBe(false);
  });

  it('is deeply frozen', () => {
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY)).toBe(true);
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY.backoff)).toBe(true);
    expect(Object.isFrozen(DEFAULT_RETRY_POLICY.nonRetryable)).toBe(true);
  });
});

describe('compileRetryPolicies', () => {
  it('uses the built-in default for every topic when given nothing', () => {
    const policies = compileRetryPolicies(undefined);
    expect(policies.default).toEqual(DEFAULT_RETRY_POLICY);
    expect(policies.forTopic('orders.created')).toEqual(DEFAULT_RETRY_POLICY);
    expect(policies.entries).toEqual([]);
    expect(policies.hasUnorderedTopics).toBe(false);
    expect(compileRetryPolicies({}).default).toEqual(DEFAULT_RETRY_POLICY);
  });

  it('merges the user default over the built-in default, backoff field by field', () => {
    const policies = compileRetryPolicies({ default: { maxAttempts: 3, backoff: { maxMs: 60_000 } } });
    expect(policies.default).toEqual({
      ...DEFAULT_RETRY_POLICY,
      maxAttempts: 3,
      backoff: { ...DEFAULT_RETRY_POLICY.backoff, maxMs: 60_000 },
    });
  });

  it('merges each topic policy over the merged default, field by field', () => {
    const policies = compileRetryPolicies({
      default: { maxAttempts: 3, maxAgeMs: 86_400_000, backoff: { initialMs: 500 }, nonRetryable: ['ValidationError'] },
      topics: { 'orders.*': { backoff: { jitter: 'none' }, ordering: 'none' } },
    });
    expect(policies.forTopic('orders.created')).toEqual({
      maxAttempts: 3,
      maxAgeMs: 86_400_000,
      backoff: { initialMs: 500, multiplier: 2, maxMs: 300_000, jitter: 'none' },
      ordering: 'none',
      nonRetryable: ['ValidationError'],
    });
  });

  it('lets a topic replace the default nonRetryable list rather than append to it', () => {
    const policies = compileRetryPolicies({
      default: { nonRetryable: ['A'] },
      topics: { x: { nonRetryable: ['B'] } },
    });
    expect(policies.forTopic('x').nonRetryable).toEqual(['B']);
  });

  it('picks the most specific matching pattern, falling back to the default', () => {
    const policies = compileRetryPolicies({
      topics: {
        '#': { maxAttempts: 1 },
        'orders.#': { maxAttempts: 2 },
        'orders.*': { maxAttempts: 3 },
        'orders.created': { maxAttempts: 4 },
      },
    });
    expect(policies.forTopic('orders.created').maxAttempts).toBe(4);
    expect(policies.forTopic('orders.paid').maxAttempts).toBe(3);
    expect(policies.forTopic('orders.paid.v2').maxAttempts).toBe(2);
    expect(policies.forTopic('users').maxAttempts).toBe(1);
    expect(policies.entries.map((e) => e.pattern.source)).toEqual(['orders.created', 'orders.*', 'orders.#', '#']);
  });

  it('returns frozen results', () => {
    const policies = compileRetryPolicies({ topics: { 'a.*': { maxAttempts: 2 } } });
    const entry = policies.entries[0]!;
    expect(Object.isFrozen(policies)).toBe(true);
    expect(Object.isFrozen(policies.entries)).toBe(true);
    expect(Object.isFrozen(entry)).toBe(true);
    expect(Object.isFrozen(entry.policy)).toBe(true);
    expect(Object.isFrozen(entry.policy.backoff)).toBe(true);
    expect(Object.isFrozen(policies.default)).toBe(true);
  });

  it('copies the input, so later changes to it have no effect', () => {
    const nonRetryable = ['A'];
    const policies = compileRetryPolicies({ default: { nonRetryable } });
    nonRetryable.push('B');
    expect(policies.default.nonRetryable).toEqual(['A']);
  });

  it('reports hasUnorderedTopics when the default or any topic has ordering none', () => {
    expect(compileRetryPolicies({ default: { ordering: 'none' } }).hasUnorderedTopics).toBe(true);
    expect(compileRetryPolicies({ topics: { 'a.#': { ordering: 'none' } } }).hasUnorderedTopics).toBe(true);
    expect(compileRetryPolicies({ topics: { 'a.#': { ordering: 'key' } } }).hasUnorderedTopics).toBe(false);
  });
});

describe('compileRetryPolicies validation', () => {
  it('reports every problem at once in one ConfigError', () => {
    const problems = problemsOf({
      default: { maxAttempts: 0, backoff: { multiplier: 0.5 } },
      topics: {
        'orders.*': { backoff: { maxMs: 10, initialMs: 100 }, ordering: 'fifo' },
        'bad..pattern': { maxAgeMs: -1 },
      },
    });
    expect(problems).toEqual([
      'policies.default.maxAttempts: must be an integer >= 1, got 0',
      'policies.default.backoff.multiplier: must be a finite number >= 1, got 0.5',
      'policies.topics["orders.*"].ordering: must be one of "key", "none", got "fifo"',
      'policies.topics["orders.*"].backoff.maxMs: must be >= initialMs (100), got 10; raise maxMs or lower initialMs',
      'policies.topics["bad..pattern"].maxAgeMs: must be a finite number of milliseconds > 0, got -1',
      expect.stringMatching(/^policies\.topics\["bad\.\.pattern"\]: is not a valid topic pattern: it must not have empty words/),
    ]);
  });

  it('says how many problems there are and lists them in the error message', () => {
    expect(() => compileRetryPolicies({ default: { maxAttempts: 0, maxAgeMs: 0 } })).toThrow(
      /retry policies: 2 problems\n {2}- policies\.default\.maxAttempts: .*\n {2}- policies\.default\.maxAgeMs: /,
    );
  });

  it('names unknown fields at every level with the allowed ones and a likely fix', () => {
    const problems = problemsOf({
      defaults: {},
      default: { maxAttempt: 3, backoff: { initialMS: 5, foo: 1 } },
      topics: { 'a.*': { 'retry-count': 1 } },
    });
    expect(problems).toEqual([
      'policies.defaults: is not a known field; did you mean "default"? allowed fields are default, topics',
      'policies.default.maxAttempt: is not a known field; did you mean "maxAttempts"? allowed fields are maxAttempts, maxAgeMs, backoff, ordering, nonRetryable',
      'policies.default.backoff.initialMS: is not a known field; did you mean "initialMs"? allowed fields are initialMs, multiplier, maxMs, jitter',
      'policies.default.backoff.foo: is not a known field; allowed fields are initialMs, multiplier, maxMs, jitter',
      'policies.topics["a.*"]["retry-count"]: is not a known field; allowed fields are maxAttempts, maxAgeMs, backoff, ordering, nonRetryable',
    ]);
  });

  it.each([
    [{ maxAttempts: 1.5 }, 'maxAttempts: must be an integer >= 1, got 1.5'],
    [{ maxAttempts: '3' }, 'maxAttempts: must be an integer >= 1, got "3"'],
    [{ maxAgeMs: Infinity }, 'maxAgeMs: must be a finite number of milliseconds > 0, got Infinity'],
    [{ backoff: { initialMs: -1 } }, 'backoff.initialMs: must be a finite number of milliseconds >= 0, got -1'],
    [{ backoff: { initialMs: Number.NaN } }, 'backoff.initialMs: must be a finite number of milliseconds >= 0, got NaN'],
    [{ backoff: { multiplier: Infinity } }, 'backoff.multiplier: must be a finite number >= 1, got Infinity'],
    [{ backoff: { maxMs: null } }, 'backoff.maxMs: must be a finite number of milliseconds >= initialMs, got null'],
    [{ backoff: { jitter: 'random' } }, 'backoff.jitter: must be one of "full", "equal", "decorrelated", "none", got "random"'],
    [{ backoff: 5 }, 'backoff: must be an object with optional fields initialMs, multiplier, maxMs, jitter, got 5'],
    [{ ordering: 'strict' }, 'ordering: must be one of "key", "none", got "strict"'],
    [{ nonRetryable: 'TypeError' }, 'nonRetryable: must be an array of error names or codes, got "TypeError"'],
    [{ nonRetryable: ['ok', '', 3] }, 'nonRetryable[1]: must be a non-empty string (an error name or code), got ""'],
  ])('rejects the default %j', (defaults, expected) => {
    expect(problemsOf({ default: defaults })).toContain(`policies.default.${expected}`);
  });

  it('reports each bad nonRetryable entry', () => {
    expect(problemsOf({ default: { nonRetryable: ['ok', '', 3] } })).toEqual([
      'policies.default.nonRetryable[1]: must be a non-empty string (an error name or code), got ""',
      'policies.default.nonRetryable[2]: must be a non-empty string (an error name or code), got 3',
    ]);
  });

  it('checks maxMs >= initialMs after merging, where the user set one of them', () => {
    expect(problemsOf({ default: { backoff: { initialMs: 600_000 } } })).toEqual([
      'policies.default.backoff.initialMs: must be <= maxMs (300000 from the built-in default), got 600000; lower initialMs or set backoff.maxMs too',
    ]);
    expect(problemsOf({ default: { backoff: { initialMs: 5000 } }, topics: { a: { backoff: { maxMs: 100 } } } })).toEqual([
      'policies.topics["a"].backoff.maxMs: must be >= initialMs (5000 from the default policy), got 100; raise maxMs or lower initialMs',
    ]);
  });

  it('reports a bad default backoff range once, not again for every topic that inherits it', () => {
    expect(problemsOf({ default: { backoff: { maxMs: 10 } }, topics: { a: { maxAttempts: 2 } } })).toHaveLength(1);
  });

  it('rejects input that is not an object', () => {
    expect(problemsOf(42)).toEqual(['policies: must be an object with optional fields default, topics, got 42']);
    expect(problemsOf({ topics: [] })).toEqual([
      'policies.topics: must be an object keyed by topic pattern, e.g. { "orders.*": { maxAttempts: 5 } }, got an array',
    ]);
    expect(problemsOf({ default: 'fast' })).toEqual([
      'policies.default: must be an object with optional fields maxAttempts, maxAgeMs, backoff, ordering, nonRetryable, got "fast"',
    ]);
  });

  it('rejects patterns that match the same topics as an earlier one', () => {
    expect(problemsOf({ topics: { '#': {}, 'a.*': {}, '#.#': {} } })).toEqual([
      'policies.topics["#.#"]: matches exactly the same topics as "#"; keep only one of them',
    ]);
  });

  it('treats fields set to undefined as not set', () => {
    const policies = compileRetryPolicies({ default: { maxAttempts: undefined, backoff: { maxMs: undefined } } });
    expect(policies.default).toEqual(DEFAULT_RETRY_POLICY);
  });
});

describe('orderingCaseSql', () => {
  it('returns undefined when every policy keeps key order', () => {
    expect(orderingCaseSql(compileRetryPolicies({ topics: { 'a.*': { maxAttempts: 2 } } }), 't.topic')).toBeUndefined();
  });

  it('tests patterns most specific first and falls back to the default ordering', () => {
    const policies = compileRetryPolicies({
      topics: {
        'orders.#': { ordering: 'key' },
        'orders.*': { ordering: 'none' },
        'orders.created': { ordering: 'key' },
      },
    });
    expect(orderingCaseSql(policies, 't.topic')).toBe(
      "(CASE WHEN t.topic ~ '^orders\\.created$' THEN true WHEN t.topic ~ '^orders\\.[^.]+$' THEN false ELSE true END)",
    );
  });

  it('uses ELSE false when the default policy is unordered', () => {
    const policies = compileRetryPolicies({ default: { ordering: 'none' }, topics: { 'audit.#': { ordering: 'key' } } });
    expect(orderingCaseSql(policies, 'topic')).toBe("(CASE WHEN topic ~ '^audit(?:\\.[^.]+)*$' THEN true ELSE false END)");
  });

  it('is a constant when no pattern changes the outcome', () => {
    expect(orderingCaseSql(compileRetryPolicies({ default: { ordering: 'none' } }), 'topic')).toBe('(false)');
  });

  it('doubles single quotes in embedded regexes and keeps backslashes literal', () => {
    const policies = compileRetryPolicies({ topics: { "o'k.a\\b": { ordering: 'none' } } });
    expect(orderingCaseSql(policies, 'topic')).toBe("(CASE WHEN topic ~ '^o''k\\.a\\\\b$' THEN false ELSE true END)");
  });

  it('refuses a topic column that is not a column reference', () => {
    const policies = compileRetryPolicies({ default: { ordering: 'none' }, topics: { a: { ordering: 'key' } } });
    expect(() => orderingCaseSql(policies, 'topic; DROP TABLE x')).toThrow(/column reference/);
    expect(orderingCaseSql(policies, '"o"."Topic"')).toContain('WHEN "o"."Topic" ~');
  });
});
