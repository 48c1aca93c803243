/**
 * Retry policies: the built-in default, validation of what the user wrote (every problem at
 * once), and compilation into a frozen per-topic lookup.
 */
import { ConfigError, type Problem } from '../errors.js';
import { createPatternTable, normalizePattern, patternProblem, type TopicPattern } from '../topic.js';
import {
  Jitter,
  Ordering,
  type Backoff,
  type RetryPoliciesInput,
  type RetryPolicy,
  type RetryPolicyInput,
} from './types.js';

/**
 * The policy used where the user configured nothing: 10 attempts, no age limit, exponential
 * backoff from 1 s doubling up to 5 min with full jitter, per-key ordering, no non-retryable
 * error names. Deeply frozen.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = freezePolicy({
  maxAttempts: 10,
  backoff: { initialMs: 1000, multiplier: 2, maxMs: 300_000, jitter: Jitter.Full },
  ordering: Ordering.Key,
  nonRetryable: [],
});

/** Compiled retry policies: a default and per-topic policies, all frozen. */
export interface RetryPolicies {
  /** DEFAULT_RETRY_POLICY merged with the user's default. */
  readonly default: RetryPolicy;
  /** The policy of the most specific pattern matching the topic, or the default. */
  forTopic(topic: string): RetryPolicy;
  /** Per-topic policies, most specific pattern first (ties keep declaration order). */
  readonly entries: ReadonlyArray<{ readonly pattern: TopicPattern; readonly policy: RetryPolicy }>;
  /** True when the default or any topic policy has ordering 'none'. */
  readonly hasUnorderedTopics: boolean;
}

const CONFIG_SUBJECT = 'retry policies';
const ROOT_PATH = 'policies';
const ROOT_FIELDS = ['default', 'topics'] as const;
const POLICY_FIELDS = ['maxAttempts', 'maxAgeMs', 'backoff', 'ordering', 'nonRetryable'] as const;
const BACKOFF_FIELDS = ['initialMs', 'multiplier', 'maxMs', 'jitter'] as const;

/**
 * Validates and compiles the user's retry policies. Each topic policy is the default policy
 * (DEFAULT_RETRY_POLICY merged with `input.default`) merged with the topic's input field by
 * field; `backoff` is merged field by field too, and `nonRetryable` replaces the default's list.
 * A field set to undefined counts as not set. Throws one ConfigError('retry policies', problems)
 * listing every problem, with fields named like `policies.topics["orders.*"].backoff.maxMs`.
 */
export function compileRetryPolicies(input: RetryPoliciesInput | undefined): RetryPolicies {
  if (input === undefined) return buildPolicies(DEFAULT_RETRY_POLICY, []);
  const problems: Problem[] = [];
  if (!isRecord(input)) {
    problems.push({
      field: ROOT_PATH,
      message: `must be an object with optional fields ${ROOT_FIELDS.join(', ')}, got ${show(input)}`,
    });
    throw new ConfigError(CONFIG_SUBJECT, problems);
  }
  checkKnownFields(input, ROOT_FIELDS, ROOT_PATH, problems);
  const defaultPath = `${ROOT_PATH}.default`;
  const defaultPolicy = compilePolicy(DEFAULT_RETRY_POLICY, input.default, defaultPath, problems, 'the built-in default');
  const topics = compileTopics(defaultPolicy, input.topics, problems);
  if (problems.length > 0) throw new ConfigError(CONFIG_SUBJECT, problems);
  return buildPolicies(defaultPolicy, topics);
}

function buildPolicies(defaultPolicy: RetryPolicy, topics: ReadonlyArray<readonly [string, RetryPolicy]>): RetryPolicies {
  const table = createPatternTable(topics);
  const entries = Object.freeze(table.entries.map(({ pattern, value }) => Object.freeze({ pattern, policy: value })));
  const unordered = [defaultPolicy, ...topics.map(([, policy]) => policy)].some((p) => p.ordering === Ordering.None);
  return Object.freeze({
    default: defaultPolicy,
    forTopic: (topic: string) => table.lookup(topic) ?? defaultPolicy,
    entries,
    hasUnorderedTopics: unordered,
  });
}

/** Validates `topics` and returns [pattern, merged policy] pairs in declaration order. */
function compileTopics(
  base: RetryPolicy,
  topics: unknown,
  problems: Problem[],
): Array<readonly [string, RetryPolicy]> {
  if (topics === undefined) return [];
  const path = `${ROOT_PATH}.topics`;
  if (!isRecord(topics)) {
    problems.push({
      field: path,
      message: `must be an object keyed by topic pattern, e.g. { "orders.*": { maxAttempts: 5 } }, got ${show(topics)}`,
    });
    return [];
  }
  const compiled: Array<readonly [string, RetryPolicy]> = [];
  const canonical = new Map<string, string>();
  for (const [pattern, policyInput] of Object.entries(topics)) {
    const topicPath = `${path}[${JSON.stringify(pattern)}]`;
    const policy = compilePolicy(base, policyInput, topicPath, problems, 'the default policy');
    const problem = patternProblem(pattern);
    if (problem !== undefined) {
      problems.push({ field: topicPath, message: `is not a valid topic pattern: it ${problem}` });
      continue;
    }
    const first = canonical.get(normalizePattern(pattern));
    if (first !== undefined) {
      problems.push({
        field: topicPath,
        message: `matches exactly the same topics as ${JSON.stringify(first)}; keep only one of them`,
      });
      continue;
    }
    canonical.set(normalizePattern(pattern), pattern);
    compiled.push([pattern, policy]);
  }
  return compiled;
}

/**
 * Validates one policy input (pushing problems) and returns `base` merged with it. The merged
 * value is only meaningful when no problem was pushed.
 */
function compilePolicy(
  base: RetryPolicy,
  input: unknown,
  path: string,
  problems: Problem[],
  baseName: string,
): RetryPolicy {
  if (input === undefined) return base;
  if (!isRecord(input)) {
    problems.push({
      field: path,
      message: `must be an object with optional fields ${POLICY_FIELDS.join(', ')}, got ${show(input)}`,
    });
    return base;
  }
  checkPolicyFields(input, path, problems);
  const merged = mergePolicy(base, input as RetryPolicyInput);
  checkBackoffRange(merged.backoff, input.backoff, `${path}.backoff`, problems, baseName);
  return merged;
}

function checkPolicyFields(input: Record<string, unknown>, path: string, problems: Problem[]): void {
  checkKnownFields(input, POLICY_FIELDS, path, problems);
  check(input.maxAttempts, isIntegerAtLeast1, 'must be an integer >= 1', `${path}.maxAttempts`, problems);
  check(input.maxAgeMs, isPositiveFinite, 'must be a finite number of milliseconds > 0', `${path}.maxAgeMs`, problems);
  check(input.ordering, isOneOf(Ordering), `must be one of ${listValues(Ordering)}`, `${path}.ordering`, problems);
  checkNonRetryable(input.nonRetryable, `${path}.nonRetryable`, problems);
  checkBackoffFields(input.backoff, `${path}.backoff`, problems);
}

function checkBackoffFields(backoff: unknown, path: string, problems: Problem[]): void {
  if (backoff === undefined) return;
  if (!isRecord(backoff)) {
    problems.push({
      field: path,
      message: `must be an object with optional fields ${BACKOFF_FIELDS.join(', ')}, got ${show(backoff)}`,
    });
    return;
  }
  checkKnownFields(backoff, BACKOFF_FIELDS, path, problems);
  check(backoff.initialMs, isNonNegativeFinite, 'must be a finite number of milliseconds >= 0', `${path}.initialMs`, problems);
  check(backoff.multiplier, isAtLeast1Finite, 'must be a finite number >= 1', `${path}.multiplier`, problems);
  check(backoff.maxMs, isNonNegativeFinite, 'must be a finite number of milliseconds >= initialMs', `${path}.maxMs`, problems);
  check(backoff.jitter, isOneOf(Jitter), `must be one of ${listValues(Jitter)}`, `${path}.jitter`, problems);
}

/**
 * maxMs >= initialMs after merging. Reported only where this level set one of the two (otherwise
 * the level it came from reports it) and when both values are valid on their own.
 */
function checkBackoffRange(
  merged: Backoff,
  input: unknown,
  path: string,
  problems: Problem[],
  baseName: string,
): void {
  if (!isRecord(input)) return;
  const { initialMs, maxMs } = merged;
  const setHere = input.initialMs !== undefined || input.maxMs !== undefined;
  if (!setHere || !isNonNegativeFinite(initialMs) || !isNonNegativeFinite(maxMs) || maxMs >= initialMs) return;
  if (input.maxMs !== undefined) {
    const from = input.initialMs !== undefined ? '' : ` from ${baseName}`;
    problems.push({
      field: `${path}.maxMs`,
      message: `must be >= initialMs (${initialMs}${from}), got ${maxMs}; raise maxMs or lower initialMs`,
    });
  } else {
    problems.push({
      field: `${path}.initialMs`,
      message: `must be <= maxMs (${maxMs} from ${baseName}), got ${initialMs}; lower initialMs or set backoff.maxMs too`,
    });
  }
}

function checkNonRetryable(value: unknown, path: string, problems: Problem[]): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) {
    problems.push({ field: path, message: `must be an array of error names or codes, got ${show(value)}` });
    return;
  }
  value.forEach((item: unknown, index) => {
    if (typeof item !== 'string' || item.length === 0) {
      problems.push({
        field: `${path}[${index}]`,
        message: `must be a non-empty string (an error name or code), got ${show(item)}`,
      });
    }
  });
}

function check(
  value: unknown,
  valid: (value: unknown) => boolean,
  rule: string,
  field: string,
  problems: Problem[],
): void {
  if (value !== undefined && !valid(value)) problems.push({ field, message: `${rule}, got ${show(value)}` });
}

function checkKnownFields(
  input: Record<string, unknown>,
  allowed: readonly string[],
  path: string,
  problems: Problem[],
): void {
  for (const key of Object.keys(input)) {
    if (allowed.includes(key)) continue;
    const guess = closestField(key, allowed);
    const hint = guess === undefined ? '' : `did you mean ${JSON.stringify(guess)}? `;
    problems.push({
      field: childPath(path, key),
      message: `is not a known field; ${hint}allowed fields are ${allowed.join(', ')}`,
    });
  }
}

function mergePolicy(base: RetryPolicy, input: RetryPolicyInput): RetryPolicy {
  const backoff: Partial<Backoff> = isRecord(input.backoff) ? input.backoff : {};
  return freezePolicy({
    maxAttempts: input.maxAttempts ?? base.maxAttempts,
    maxAgeMs: input.maxAgeMs ?? base.maxAgeMs,
    backoff: {
      initialMs: backoff.initialMs ?? base.backoff.initialMs,
      multiplier: backoff.multiplier ?? base.backoff.multiplier,
      maxMs: backoff.maxMs ?? base.backoff.maxMs,
      jitter: backoff.jitter ?? base.backoff.jitter,
    },
    ordering: input.ordering ?? base.ordering,
    nonRetryable: Array.isArray(input.nonRetryable) ? input.nonRetryable : base.nonRetryable,
  });
}

/** A deeply frozen copy; maxAgeMs is left out when undefined. */
function freezePolicy(policy: RetryPolicy): RetryPolicy {
  const { maxAgeMs, ...rest } = policy;
  return Object.freeze({
    ...rest,
    ...(maxAgeMs === undefined ? {} : { maxAgeMs }),
    backoff: Object.freeze({ ...policy.backoff }),
    nonRetryable: Object.freeze([...policy.nonRetryable]),
  });
}

/**
 * An SQL boolean expression, TRUE when the topic in `topicColumn` is ordered (ordering 'key')
 * under these policies, or undefined when every policy is ordered (nothing to filter).
 * The patterns are tested most specific first, as forTopic() does, e.g.
 * `(CASE WHEN t.topic ~ '^orders\.[^.]+$' THEN false ELSE true END)`. Regexes are embedded as
 * standard SQL string literals with single quotes doubled (assumes standard_conforming_strings
 * = on, the PostgreSQL default). `topicColumn` is code, not user input: it must be a plain or
 * qualified identifier (e.g. `topic`, `t.topic`, `"o"."topic"`), otherwise this throws.
 */
export function orderingCaseSql(policies: RetryPolicies, topicColumn: string): string | undefined {
  if (!policies.hasUnorderedTopics) return undefined;
  assertColumnReference(topicColumn);
  const fallback = policies.default.ordering === Ordering.Key;
  const entries = [...policies.entries];
  // Trailing entries that agree with the ELSE branch cannot change the result.
  while (entries.length > 0 && (entries[entries.length - 1]!.policy.ordering === Ordering.Key) === fallback) {
    entries.pop();
  }
  if (entries.length === 0) return `(${String(fallback)})`;
  const whens = entries.map(
    ({ pattern, policy }) =>
      `WHEN ${topicColumn} ~ ${sqlString(pattern.toPostgresRegex())} THEN ${String(policy.ordering === Ordering.Key)}`,
  );
  return `(CASE ${whens.join(' ')} ELSE ${String(fallback)} END)`;
}

const IDENTIFIER_PART = '(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"\\u0000]|"")+")';
const COLUMN_REFERENCE = new RegExp(`^${IDENTIFIER_PART}(?:\\.${IDENTIFIER_PART}){0,2}$`);

function assertColumnReference(column: string): void {
  if (!COLUMN_REFERENCE.test(column)) {
    throw new Error(
      `orderingCaseSql: topicColumn must be a column reference such as "t.topic", got ${JSON.stringify(column)}`,
    );
  }
}

/** A standard SQL string literal: single quotes doubled, backslashes literal. */
function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isIntegerAtLeast1(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

function isPositiveFinite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

function isNonNegativeFinite(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isAtLeast1Finite(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 1;
}

function isOneOf(values: Record<string, string>): (value: unknown) => boolean {
  const allowed: readonly unknown[] = Object.values(values);
  return (value) => allowed.includes(value);
}

function listValues(values: Record<string, string>): string {
  return Object.values(values)
    .map((v) => JSON.stringify(v))
    .join(', ');
}

function childPath(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Renders a bad value for a message: strings quoted, numbers as written, objects by kind. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** The allowed field the user probably meant: same letters ignoring case, or 1-2 edits away. */
function closestField(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const distance = candidate.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
