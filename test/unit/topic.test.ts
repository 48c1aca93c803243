import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  compareSpecificity,
  createPatternTable,
  duplicatePatterns,
  normalizePattern,
  parsePattern,
  patternProblem,
  topicProblem,
  PATTERN_TABLE_CACHE_SIZE,
} from '../../src/topic.js';

/** The AMQP definition, written as directly as possible, to check the word algorithm against. */
function referenceMatch(pattern: readonly string[], topic: readonly string[]): boolean {
  if (pattern.length === 0) return topic.length === 0;
  const [head, ...rest] = pattern;
  if (head === '#') {
    for (let skip = 0; skip <= topic.length; skip++) {
      if (referenceMatch(rest, topic.slice(skip))) return true;
    }
    return false;
  }
  if (topic.length === 0) return false;
  return (head === '*' || head === topic[0]) && referenceMatch(rest, topic.slice(1));
}

/** Literal words, several with characters that are special in regexes or SQL. */
const LITERALS = ['a', 'b', 'orders', 'a-b', 'x_y', 'c:d', 'e/f', 'a+b', '$', '(x)', 'a\\b', "o'k", '^', '[z]', '{1}', 'a|b', '?'];
const literal = fc.constantFrom(...LITERALS);
const topicArb = fc.array(literal, { minLength: 1, maxLength: 6 }).map((words) => words.join('.'));
const patternArb = fc
  .array(fc.oneof({ weight: 3, arbitrary: literal }, fc.constant('*'), fc.constant('#')), { minLength: 1, maxLength: 6 })
  .map((words) => words.join('.'));

describe('topicProblem', () => {
  it.each(['orders', 'orders.created', 'a-b.c_d.e:f.g/h.i+j.$k', 'é.ünïcode', 'x'.repeat(255)])(
    'accepts the valid topic %j',
    (topic) => {
      expect(topicProblem(topic)).toBeUndefined();
    },
  );

  it.each([
    [42, /must be a string/],
    [undefined, /must be a string/],
    ['', /must not be empty/],
    ['x'.repeat(256), /at most 255 bytes/],
    ['é'.repeat(128), /at most 255 bytes of UTF-8, got 256/],
    ['orders created', /whitespace/],
    ['orders.\tcreated', /whitespace/],
    ['orders\u0000', /control characters/],
    ['.orders', /empty words/],
    ['orders.', /empty words/],
    ['orders..created', /empty words/],
    ['orders.*', /only for patterns/],
    ['audit.#', /only for patterns/],
    ['a#b', /only for patterns/],
  ])('rejects %j with a sentence saying what to do', (topic, message) => {
    expect(topicProblem(topic)).toMatch(message);
  });
});

describe('patternProblem and parsePattern', () => {
  it.each(['#', '*', 'orders.*', 'audit.#', 'a.#.b', '*.created', '#.#', 'a.*.*.#'])('accepts %j', (source) => {
    expect(patternProblem(source)).toBeUndefined();
    expect(parsePattern(source).source).toBe(source);
  });

  it.each([
    ['', /must not be empty/],
    ['orders.*x', /'\*' and '#' only as whole words .* the word "\*x"/],
    ['a#.b', /only as whole words/],
    ['orders..*', /empty words/],
    ['orders. *', /whitespace/],
  ])('rejects %j', (source, message) => {
    expect(patternProblem(source)).toMatch(message);
    expect(() => parsePattern(source)).toThrow(message);
  });

  it('names the pattern in the error thrown by parsePattern', () => {
    expect(() => parsePattern('orders.*x')).toThrow(/invalid topic pattern "orders\.\*x"/);
  });
});

describe('TopicPattern.matches', () => {
  it.each([
    ['audit.#', 'audit', true],
    ['audit.#', 'audit.a.b', true],
    ['audit.#', 'auditing', false],
    ['audit.#', 'x.audit', false],
    ['#', 'anything.at.all', true],
    ['#', 'x', true],
    ['a.#.b', 'a.b', true],
    ['a.#.b', 'a.x.b', true],
    ['a.#.b', 'a.x.y.b', true],
    ['a.#.b', 'a.x.y', false],
    ['*.created', 'orders.created', true],
    ['*.created', 'created', false],
    ['*.created', 'a.orders.created', false],
    ['orders.*', 'orders', false],
    ['orders.*', 'orders.created.v2', false],
    ['#.created', 'created', true],
    ['#.created', 'a.b.created', true],
    ['*.#', 'a', true],
    ['#.*', 'a', true],
    ['a.b', 'a.b', true],
    ['a.b', 'a.bb', false],
  ])('%j against %j is %s', (pattern, topic, expected) => {
    expect(parsePattern(pattern).matches(topic)).toBe(expected);
  });

  it('treats regex metacharacters in literal words literally', () => {
    const pattern = parsePattern('a+b.$.(x)');
    expect(pattern.matches('a+b.$.(x)')).toBe(true);
    expect(pattern.matches('aab.$.(x)')).toBe(false);
    expect(parsePattern('a.b').matches('aXb')).toBe(false);
  });

  it('never matches a string that is not a valid topic', () => {
    expect(parsePattern('#').matches('')).toBe(false);
    expect(parsePattern('#').matches('a..b')).toBe(false);
    expect(parsePattern('*').matches('a b')).toBe(false);
  });

  it('agrees with the recursive AMQP definition on generated topics and patterns', () => {
    fc.assert(
      fc.property(patternArb, topicArb, (pattern, topic) => {
        const expected = referenceMatch(pattern.split('.'), topic.split('.'));
        expect(parsePattern(pattern).matches(topic)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('TopicPattern.toPostgresRegex', () => {
  it.each([
    ['orders.*', '^orders\\.[^.]+$'],
    ['orders.created', '^orders\\.created$'],
    ['audit.#', '^audit(?:\\.[^.]+)*$'],
    ['#.created', '^(?:[^.]+\\.)*created$'],
    ['a.#.b', '^a(?:\\.[^.]+)*\\.b$'],
    ['#', '^[^.]+(?:\\.[^.]+)*$'],
    ['#.#', '^[^.]+(?:\\.[^.]+)*$'],
    ['a+b.$', '^a\\+b\\.\\$$'],
  ])('%j becomes %s', (pattern, regex) => {
    expect(parsePattern(pattern).toPostgresRegex()).toBe(regex);
  });

  it('never escapes a letter or digit (that would be an ARE escape such as \\d or \\m)', () => {
    fc.assert(
      fc.property(patternArb, (pattern) => {
        const escaped = [...parsePattern(pattern).toPostgresRegex().matchAll(/\\([\s\S])/g)].map((m) => m[1]);
        for (const char of escaped) expect(char).not.toMatch(/[A-Za-z0-9]/);
      }),
    );
  });

  it('matches exactly the topics matches() accepts, as a JS RegExp with and without the u flag', () => {
    fc.assert(
      fc.property(patternArb, topicArb, (pattern, topic) => {
        const parsed = parsePattern(pattern);
        const source = parsed.toPostgresRegex();
        expect(new RegExp(source).test(topic)).toBe(parsed.matches(topic));
        expect(new RegExp(source, 'u').test(topic)).toBe(parsed.matches(topic));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('normalizePattern and duplicatePatterns', () => {
  it('rewrites runs of wildcards as their stars followed by one hash', () => {
    expect(normalizePattern('#.#')).toBe('#');
    expect(normalizePattern('#.*.#.*.a.#')).toBe('*.*.#.a.#');
    expect(normalizePattern('orders.*')).toBe('orders.*');
  });

  it('gives the same form to spellings that reorder or repeat wildcards, and they match the same topics', () => {
    const run = fc.record({ stars: fc.integer({ min: 0, max: 2 }), hashes: fc.integer({ min: 0, max: 2 }) });
    const segments = fc.array(fc.oneof(literal, run), { minLength: 1, maxLength: 4 });
    const spell = (parts: ReadonlyArray<string | { stars: number; hashes: number }>, hashesFirst: boolean): string => {
      const words = parts.flatMap((part) => {
        if (typeof part === 'string') return [part];
        const stars: string[] = Array.from({ length: part.stars }, () => '*');
        const hashes: string[] = Array.from({ length: part.hashes + (hashesFirst && part.hashes > 0 ? 1 : 0) }, () => '#');
        return hashesFirst ? [...hashes, ...stars] : [...stars, ...hashes];
      });
      return words.length === 0 ? '#' : words.join('.');
    };
    fc.assert(
      fc.property(segments, fc.array(topicArb, { maxLength: 20 }), (parts, topics) => {
        const a = spell(parts, false);
        const b = spell(parts, true);
        expect(normalizePattern(a)).toBe(normalizePattern(b));
        const pa = parsePattern(a);
        const pb = parsePattern(b);
        for (const topic of topics) expect(pa.matches(topic)).toBe(pb.matches(topic));
      }),
    );
  });

  it('reports repeats and equivalent spellings once each, after the first occurrence', () => {
    expect(duplicatePatterns(['a.*', '#', 'a.*', '#.#', 'b', 'a.*', '*.#', '#.*'])).toEqual(['a.*', '#.#', '#.*']);
    expect(duplicatePatterns(['a', 'b.*', '#'])).toEqual([]);
  });
});

describe('compareSpecificity', () => {
  const sortBySpecificity = (patterns: string[]): string[] => [...patterns].sort(compareSpecificity);

  it('ranks orders.created > orders.* > orders.# > #', () => {
    expect(sortBySpecificity(['#', 'orders.#', 'orders.created', 'orders.*'])).toEqual([
      'orders.created',
      'orders.*',
      'orders.#',
      '#',
    ]);
  });

  it('prefers *.created over orders.# (same literals, fewer #)', () => {
    expect(compareSpecificity('*.created', 'orders.#')).toBeLessThan(0);
    expect(compareSpecificity('orders.#', '*.created')).toBeGreaterThan(0);
  });

  it('prefers more literal words over fewer wildcards', () => {
    expect(compareSpecificity('a.#.b', 'a.*')).toBeLessThan(0);
  });

  it('prefers fewer * when literals and # tie', () => {
    expect(compareSpecificity('a.*', 'a.*.*')).toBeLessThan(0);
  });

  it('breaks remaining ties word by word: literal before * before #', () => {
    expect(compareSpecificity('orders.*', '*.created')).toBeLessThan(0);
    expect(compareSpecificity('*.#', '#.*')).toBeLessThan(0);
  });

  it('returns 0 for equally specific patterns', () => {
    expect(compareSpecificity('a.*', 'b.*')).toBe(0);
    expect(compareSpecificity(parsePattern('#'), '#')).toBe(0);
  });

  it('is antisymmetric on generated patterns', () => {
    fc.assert(
      fc.property(patternArb, patternArb, (a, b) => {
        expect(Math.sign(compareSpecificity(a, b))).toBe(-Math.sign(compareSpecificity(b, a)) || 0);
      }),
    );
  });
});

describe('createPatternTable', () => {
  it('returns the value of the most specific matching pattern, whatever the declaration order', () => {
    const table = createPatternTable([
      ['#', 'any'],
      ['orders.#', 'orders-any'],
      ['orders.*', 'orders-one'],
      ['orders.created', 'created'],
      ['*.created', 'star-created'],
    ]);
    expect(table.lookup('orders.created')).toBe('created');
    expect(table.lookup('orders.deleted')).toBe('orders-one');
    expect(table.lookup('orders.a.b')).toBe('orders-any');
    expect(table.lookup('orders')).toBe('orders-any');
    expect(table.lookup('users.created')).toBe('star-created');
    expect(table.lookup('users')).toBe('any');
  });

  it('lists entries most specific first, keeping declaration order among ties', () => {
    const table = createPatternTable([
      ['#', 1],
      ['b.*', 2],
      ['a.*', 3],
      ['a.b', 4],
    ]);
    expect(table.entries.map((e) => [e.pattern.source, e.value])).toEqual([
      ['a.b', 4],
      ['b.*', 2],
      ['a.*', 3],
      ['#', 1],
    ]);
    expect(Object.isFrozen(table.entries)).toBe(true);
  });

  it('lets the first declared of two identical patterns win (only identical patterns tie and overlap)', () => {
    const table = createPatternTable([
      ['x.#', 'first'],
      ['x.#', 'second'],
    ]);
    expect(table.lookup('x.y')).toBe('first');
  });

  it('returns undefined when nothing matches', () => {
    expect(createPatternTable([['orders.*', 1]]).lookup('users.created')).toBeUndefined();
    expect(createPatternTable<number>([]).lookup('a')).toBeUndefined();
  });

  it('throws on an invalid pattern', () => {
    expect(() => createPatternTable([['orders.*x', 1]])).toThrow(/invalid topic pattern/);
  });

  it('keeps answering correctly after the cache fills up and is cleared', () => {
    const table = createPatternTable([
      ['t.*', 'one'],
      ['#', 'any'],
    ]);
    for (let i = 0; i < PATTERN_TABLE_CACHE_SIZE + 5; i++) {
      expect(table.lookup(`t.${i}`)).toBe('one');
    }
    expect(table.lookup('t.1')).toBe('one');
    expect(table.lookup('u.1.2')).toBe('any');
  });

  it('agrees with a linear scan of the entries on generated topics', () => {
    fc.assert(
      fc.property(fc.uniqueArray(patternArb, { maxLength: 6 }), fc.array(topicArb, { maxLength: 10 }), (patterns, topics) => {
        const table = createPatternTable(patterns.map((p, i) => [p, i] as const));
        for (const topic of topics) {
          const expected = table.entries.find((e) => referenceMatch(e.pattern.source.split('.'), topic.split('.')))?.value;
          expect(table.lookup(topic)).toBe(expected);
        }
      }),
    );
  });
});
