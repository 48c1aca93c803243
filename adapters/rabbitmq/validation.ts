/**
 * Small checks shared by the option validators of this adapter. Each pushes a Problem (field and
 * what to do) instead of throwing, so a validator can report every problem at once.
 */
import type { Problem } from '../../src/errors.js';

export type Problems = Problem[];

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

/** A short, safe description of a value for an error message (never the value of a secret field). */
export function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'undefined') return String(value);
  return typeof value;
}

/** Reports every field of `input` that is not in `known`. */
export function checkKnownFields(
  input: Record<string, unknown>,
  known: readonly string[],
  path: string,
  problems: Problems,
): void {
  for (const field of Object.keys(input)) {
    if (!known.includes(field)) {
      problems.push({
        field: join(path, field),
        message: `is not a known option; remove it (known: ${known.join(', ')})`,
      });
    }
  }
}

/** `path.field`, or just `field` at the root. */
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

export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

export function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** AMQP short strings (names of queues, exchanges, routing keys) hold at most 255 bytes. */
export const MAX_SHORT_STRING_BYTES = 255;

/**
 * What is wrong with an AMQP name (queue or exchange), or undefined when it is fine:
 * a string of 1 to 255 bytes. `allowEmpty` accepts '' (the default exchange).
 */
export function nameProblem(value: unknown, noun: string, allowEmpty = false): string | undefined {
  if (typeof value !== 'string') return `must be a string naming the ${noun}, got ${show(value)}`;
  if (value.length === 0 && !allowEmpty) return `must not be empty; name the ${noun}`;
  if (Buffer.byteLength(value) > MAX_SHORT_STRING_BYTES) {
    return `must be at most ${MAX_SHORT_STRING_BYTES} bytes (an AMQP short string); use a shorter ${noun} name`;
  }
  return undefined;
}

export function checkName(value: unknown, noun: string, field: string, problems: Problems, allowEmpty = false): boolean {
  const problem = nameProblem(value, noun, allowEmpty);
  if (problem !== undefined) problems.push({ field, message: problem });
  return problem === undefined;
}

/** x-arguments / binding arguments: a plain object. */
export function checkArguments(value: unknown, field: string, problems: Problems): void {
  checkOptional(value, isRecord, 'must be a plain object of x-arguments, e.g. { "x-max-length": 1000 }', field, problems);
}
