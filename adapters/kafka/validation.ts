/**
 * Small checks shared by the option validators of this adapter. Each pushes a Problem (the field
 * and what to do) instead of throwing, so a validator reports every problem at once. Values are
 * described without echoing secrets.
 */
import type { Problem } from '../../src/errors.js';

export type Problems = Problem[];

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** A short, safe description of a value: strings quoted (anything up to an '@' masked), objects by kind. */
export function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') {
    const masked = value.includes('@') ? `***@${value.slice(value.lastIndexOf('@') + 1)}` : value;
    return JSON.stringify(masked.length > 60 ? `${masked.slice(0, 57)}...` : masked);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'undefined') return String(value);
  return typeof value === 'function' ? 'a function' : typeof value;
}

/** Reports every field of `input` that is not in `known`. */
export function checkKnownFields(input: Record<string, unknown>, known: readonly string[], path: string, problems: Problems): void {
  for (const field of Object.keys(input)) {
    if (!known.includes(field)) {
      problems.push({ field: join(path, field), message: `is not a known option; remove it (known: ${known.join(', ')})` });
    }
  }
}

export function join(path: string, field: string): string {
  return path === '' ? field : `${path}.${field}`;
}

/** Checks `value` when it is set (undefined means "use the default"). Returns true when valid or unset. */
export function checkOptional(
  value: unknown,
  valid: (value: unknown) => boolean,
  expected: string,
  field: string,
  problems: Problems,
): boolean {
  if (value === undefined || valid(value)) return true;
  problems.push({ field, message: `${expected}, got ${show(value)}` });
  return false;
}

export function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

export function isBoolean(value: unknown): value is boolean {
  return typeof value === 'boolean';
}

export function isFunction(value: unknown): boolean {
  return typeof value === 'function';
}

export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

/** Longest Kafka topic name. */
export const MAX_KAFKA_TOPIC_LENGTH = 249;
const KAFKA_TOPIC = /^[a-zA-Z0-9._-]+$/;

/**
 * What is wrong with a Kafka topic name, or undefined when it is legal: 1 to 249 characters from
 * [a-zA-Z0-9._-], and not "." or "..".
 */
export function kafkaTopicProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `must be a string naming a Kafka topic, got ${show(value)}`;
  if (value.length === 0) return 'must not be empty; name a Kafka topic';
  if (value.length > MAX_KAFKA_TOPIC_LENGTH) {
    return `must be at most ${MAX_KAFKA_TOPIC_LENGTH} characters (Kafka's limit), got ${value.length}`;
  }
  if (!KAFKA_TOPIC.test(value)) {
    return `may only contain ASCII letters, digits, '.', '_' and '-' (Kafka's rule), got ${show(value)}`;
  }
  if (value === '.' || value === '..') return `must not be "." or ".." (Kafka reserves them)`;
  return undefined;
}

export function checkKafkaTopic(value: unknown, field: string, problems: Problems): boolean {
  const problem = kafkaTopicProblem(value);
  if (problem !== undefined) problems.push({ field, message: problem });
  return problem === undefined;
}
