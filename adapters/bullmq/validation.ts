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

export function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

export function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * What is wrong with a BullMQ queue name (or prefix), or undefined when it is fine: a non-empty
 * string without ':' (BullMQ builds its Redis keys as prefix:queue:..., and refuses ':' in names).
 */
export function queueNameProblem(value: unknown, noun = 'queue name'): string | undefined {
  if (typeof value !== 'string') return `must be a string (a ${noun}), got ${show(value)}`;
  if (value.length === 0) return `must not be empty; give a ${noun}`;
  if (value.includes(':')) return `must not contain ':' (BullMQ separates its Redis key parts with it), got ${show(value)}`;
  if (Buffer.byteLength(value, 'utf8') > 255) return `must be at most 255 bytes of UTF-8; use a shorter ${noun}`;
  return undefined;
}
