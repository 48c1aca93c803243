/**
 * Topic names and AMQP topic-exchange patterns.
 *
 * A topic is a list of words joined by '.', e.g. `orders.created`. A pattern has the same shape,
 * and a word may also be `*` (exactly one word) or `#` (zero or more words). Patterns are used to
 * pick per-topic settings (retry policies, routing); the most specific matching pattern wins.
 */

/** Longest topic (and pattern) accepted, in UTF-16 code units. */
export const MAX_TOPIC_LENGTH = 255;

const SEPARATOR = '.';
const ONE_WORD = '*';
const ANY_WORDS = '#';
const FORBIDDEN_CHAR = /[\s\p{Cc}]/u;
const EXAMPLE = `use dot-separated words such as "orders.created"`;

/**
 * What is wrong with a topic name, as a sentence that says what to do, or undefined when the
 * topic is valid: a string of 1 to 255 characters, words separated by '.', no empty words (no
 * leading, trailing or double dots), no whitespace or control characters, no '*' or '#'.
 */
export function topicProblem(topic: unknown): string | undefined {
  const shape = textProblem(topic, 'topic');
  if (shape !== undefined) return shape;
  const text = topic as string;
  if (text.includes(ONE_WORD) || text.includes(ANY_WORDS)) {
    return `must not contain '*' or '#', which are only for patterns; ${EXAMPLE}, got ${JSON.stringify(text)}`;
  }
  return undefined;
}

/**
 * What is wrong with a topic pattern, as a sentence that says what to do, or undefined when the
 * pattern is valid: the topic rules, except that a word may be exactly '*' or '#'.
 */
export function patternProblem(source: unknown): string | undefined {
  const shape = textProblem(source, 'pattern');
  if (shape !== undefined) return shape;
  const text = source as string;
  const mixed = text.split(SEPARATOR).find((word) => isWildcardMixedIn(word));
  if (mixed !== undefined) {
    return (
      `must use '*' and '#' only as whole words (e.g. "orders.*" or "audit.#"), ` +
      `but the word ${JSON.stringify(mixed)} mixes them with other characters`
    );
  }
  return undefined;
}

/** The checks shared by topics and patterns: type, length, characters and empty words. */
function textProblem(value: unknown, noun: 'topic' | 'pattern'): string | undefined {
  if (typeof value !== 'string') {
    return `must be a string (a ${noun} such as "orders.created"), got ${describeType(value)}`;
  }
  if (value.length === 0) return `must not be empty; ${EXAMPLE}`;
  // Bytes, not characters: brokers cap names at 255 bytes of UTF-8 (AMQP short strings).
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_TOPIC_LENGTH) {
    return `must be at most ${MAX_TOPIC_LENGTH} bytes of UTF-8, got ${bytes}; use a shorter ${noun}`;
  }
  const forbidden = FORBIDDEN_CHAR.exec(value);
  if (forbidden !== null) {
    return (
      `must not contain whitespace or control characters ` +
      `(found ${JSON.stringify(forbidden[0])} at index ${forbidden.index}); ${EXAMPLE}`
    );
  }
  if (value.split(SEPARATOR).includes('')) {
    return `must not have empty words (a leading, trailing or double '.'); ${EXAMPLE}, got ${JSON.stringify(value)}`;
  }
  return undefined;
}

function isWildcardMixedIn(word: string): boolean {
  if (word === ONE_WORD || word === ANY_WORDS) return false;
  return word.includes(ONE_WORD) || word.includes(ANY_WORDS);
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/** A parsed AMQP topic pattern. */
export interface TopicPattern {
  /** The pattern as written, e.g. `orders.*`. */
  readonly source: string;
  /**
   * True when the topic matches: literal words compare exactly, '*' matches one word, '#' zero
   * or more. A string that is not a valid topic (see topicProblem) never matches.
   */
  matches(topic: string): boolean;
  /**
   * An anchored regular expression for PostgreSQL's `~` operator (POSIX ARE) that matches
   * exactly the valid topics that matches() accepts. It uses only syntax that means the same in
   * JavaScript's RegExp. Embed it as an SQL string literal (single quotes doubled).
   */
  toPostgresRegex(): string;
}

/** Parses a pattern; throws an Error naming the pattern and what is wrong with it. */
export function parsePattern(source: string): TopicPattern {
  const problem = patternProblem(source);
  if (problem !== undefined) {
    throw new Error(`invalid topic pattern ${safeQuote(source)}: ${problem}`);
  }
  const words = normalizeWords(source.split(SEPARATOR));
  const regex = buildRegex(words);
  return Object.freeze({
    source,
    matches: (topic: string) => topicProblem(topic) === undefined && matchWords(words, topic.split(SEPARATOR)),
    toPostgresRegex: () => regex,
  });
}

function safeQuote(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/**
 * The canonical form of a pattern: every run of wildcard words is rewritten as its '*' words
 * followed by one '#' if the run had any ('#.#' -> '#', '#.*' -> '*.#'). Two valid patterns
 * match the same topics exactly when their canonical forms are equal.
 */
export function normalizePattern(source: string): string {
  return normalizeWords(source.split(SEPARATOR)).join(SEPARATOR);
}

function normalizeWords(words: readonly string[]): string[] {
  const out: string[] = [];
  let stars = 0;
  let hash = false;
  const flush = (): void => {
    for (; stars > 0; stars--) out.push(ONE_WORD);
    if (hash) out.push(ANY_WORDS);
    hash = false;
  };
  for (const word of words) {
    if (word === ONE_WORD) stars++;
    else if (word === ANY_WORDS) hash = true;
    else {
      flush();
      out.push(word);
    }
  }
  flush();
  return out;
}

/**
 * Word-array matching, the glob algorithm with '#' as the star: walk both lists; on a mismatch,
 * go back to the last '#' seen and let it swallow one more topic word. O(pattern * topic) worst
 * case, no allocation.
 */
function matchWords(pattern: readonly string[], topic: readonly string[]): boolean {
  let p = 0;
  let t = 0;
  let lastHash = -1;
  let swallowedUpTo = 0;
  while (t < topic.length) {
    const word = pattern[p];
    if (word === ANY_WORDS) {
      lastHash = p++;
      swallowedUpTo = t;
    } else if (word !== undefined && (word === ONE_WORD || word === topic[t])) {
      p++;
      t++;
    } else if (lastHash >= 0) {
      p = lastHash + 1;
      t = ++swallowedUpTo;
    } else {
      return false;
    }
  }
  while (pattern[p] === ANY_WORDS) p++;
  return p === pattern.length;
}

/** A topic word in regex form: one or more characters other than the separator. */
const WORD_RE = '[^.]+';
/** Characters that are special in both POSIX AREs and JavaScript regexes outside brackets. */
const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/g;

/**
 * Builds the anchored regex from canonical words. Each word after the first is preceded by an
 * escaped dot; '#' in the middle or at the end becomes `(?:\.[^.]+)*` (zero or more dotted
 * words) and a leading '#' becomes `(?:[^.]+\.)*` (zero or more words each followed by a dot).
 * Escapes use a backslash before punctuation only: in an ARE a backslash before a letter or
 * digit would start an escape sequence, and in a JS regex with the u flag it would be an error.
 */
function buildRegex(words: readonly string[]): string {
  if (words.length === 1 && words[0] === ANY_WORDS) return `^${WORD_RE}(?:\\.${WORD_RE})*$`;
  let body = '';
  let needsDot = false;
  for (const word of words) {
    if (word === ANY_WORDS) {
      body += needsDot ? `(?:\\.${WORD_RE})*` : `(?:${WORD_RE}\\.)*`;
      continue;
    }
    body += (needsDot ? '\\.' : '') + (word === ONE_WORD ? WORD_RE : escapeRegexWord(word));
    needsDot = true;
  }
  return `^${body}$`;
}

function escapeRegexWord(word: string): string {
  return word.replace(REGEX_SPECIAL, '\\$&');
}

/**
 * Orders patterns by specificity: negative when `a` is MORE specific than `b`, positive when less,
 * 0 when equally specific. Rules in order: more literal words; fewer '#'; fewer '*'; then word by
 * word from the left, literal before '*' before '#'. Strings are parsed as patterns (and throw
 * when invalid).
 */
export function compareSpecificity(a: TopicPattern | string, b: TopicPattern | string): number {
  const wa = wordsOf(a);
  const wb = wordsOf(b);
  const ca = countKinds(wa);
  const cb = countKinds(wb);
  if (ca.literal !== cb.literal) return cb.literal - ca.literal;
  if (ca.hash !== cb.hash) return ca.hash - cb.hash;
  if (ca.star !== cb.star) return ca.star - cb.star;
  const length = Math.min(wa.length, wb.length);
  for (let i = 0; i < length; i++) {
    const diff = wordRank(wa[i]) - wordRank(wb[i]);
    if (diff !== 0) return diff;
  }
  return 0;
}

function wordsOf(pattern: TopicPattern | string): string[] {
  const source = typeof pattern === 'string' ? parsePattern(pattern).source : pattern.source;
  return source.split(SEPARATOR);
}

function countKinds(words: readonly string[]): { literal: number; star: number; hash: number } {
  let star = 0;
  let hash = 0;
  for (const word of words) {
    if (word === ONE_WORD) star++;
    else if (word === ANY_WORDS) hash++;
  }
  return { literal: words.length - star - hash, star, hash };
}

function wordRank(word: string | undefined): number {
  if (word === ANY_WORDS) return 2;
  if (word === ONE_WORD) return 1;
  return 0;
}

/**
 * Patterns in the list that match exactly the same topics as an earlier one (each reported once,
 * in list order): plain repeats, and spellings such as '#.#' of '#' or '#.*' of '*.#'.
 */
export function duplicatePatterns(patterns: string[]): string[] {
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const pattern of patterns) {
    const canonical = normalizePattern(pattern);
    if (seen.has(canonical)) {
      if (!duplicates.includes(pattern)) duplicates.push(pattern);
    } else {
      seen.add(canonical);
    }
  }
  return duplicates;
}

/** Values keyed by topic pattern, looked up by topic: the most specific matching pattern wins. */
export interface PatternTable<T> {
  /** The value of the most specific pattern matching the topic, or undefined when none does. */
  lookup(topic: string): T | undefined;
  /** Most specific first; patterns of equal specificity keep their declaration order. */
  readonly entries: ReadonlyArray<{ readonly pattern: TopicPattern; readonly value: T }>;
}

/** Bound on the per-table lookup cache; the cache is cleared when it is full. */
export const PATTERN_TABLE_CACHE_SIZE = 10_000;

/**
 * Compiles (pattern, value) pairs into a lookup table. Throws on an invalid pattern. Duplicate
 * patterns are not rejected here (the first declared wins); callers report them with
 * duplicatePatterns(). Lookups are cached per topic, up to PATTERN_TABLE_CACHE_SIZE topics.
 */
export function createPatternTable<T>(
  entries: ReadonlyArray<readonly [pattern: string, value: T]>,
): PatternTable<T> {
  const sorted = entries
    .map(([source, value]) => Object.freeze({ pattern: parsePattern(source), value }))
    .sort((a, b) => compareSpecificity(a.pattern, b.pattern));
  const cache = new Map<string, T | undefined>();
  const lookup = (topic: string): T | undefined => {
    if (cache.has(topic)) return cache.get(topic);
    const value = sorted.find((entry) => entry.pattern.matches(topic))?.value;
    if (cache.size >= PATTERN_TABLE_CACHE_SIZE) cache.clear();
    cache.set(topic, value);
    return value;
  };
  return Object.freeze({ lookup, entries: Object.freeze(sorted) });
}
