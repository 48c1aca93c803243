/**
 * Checks shared by the option validators of every adapter. Each pushes a Problem (the field and
 * what to do) instead of throwing, so a validator reports every problem at once. Values are
 * described without echoing secrets. Broker-free, like the core.
 */
import type { Middleware } from '../../src/consumer/types.js';
import { ConfigError, type Problem } from '../../src/errors.js';
import { compileRetryPolicies, type RetryPolicies } from '../../src/retry/policy.js';
import type { RetryPoliciesInput } from '../../src/retry/types.js';

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

export function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A consumer's middleware list: an array of functions, outermost first. */
export function checkMiddleware(input: unknown, problems: Problems): readonly Middleware[] {
  if (input === undefined) return [];
  if (!Array.isArray(input)) {
    problems.push({ field: 'middleware', message: `must be an array of middleware functions, got ${show(input)}` });
    return [];
  }
  input.forEach((m: unknown, i) => {
    if (typeof m !== 'function') problems.push({ field: `middleware[${i}]`, message: `must be a function (next) => handler, got ${show(m)}` });
  });
  return Object.freeze([...(input as Middleware[])]);
}

/** Retry policies, compiled; their problems join the caller's (undefined when there were any). */
export function checkPolicies(input: unknown, problems: Problems): RetryPolicies | undefined {
  try {
    return compileRetryPolicies(input as RetryPoliciesInput | undefined);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
    return undefined;
  }
}
