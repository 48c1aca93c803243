/**
 * Errors postbox throws, and the errors a handler throws to steer retries.
 *
 * Every postbox error carries a stable `code` and the native `cause`. Checks go
 * through the exported `is*` functions, which look at a brand rather than
 * `instanceof`, so they work across duplicated copies of the package.
 */

const BRAND = Symbol.for('postbox.error');
const NON_RETRYABLE = Symbol.for('postbox.non-retryable');
const RETRY_LATER = Symbol.for('postbox.retry-later');

export const ErrorCode = {
  Validation: 'POSTBOX_VALIDATION',
  Config: 'POSTBOX_CONFIG',
  NonRetryable: 'POSTBOX_NON_RETRYABLE',
  RetryLater: 'POSTBOX_RETRY_LATER',
  TransportUnavailable: 'POSTBOX_TRANSPORT_UNAVAILABLE',
  PublishTimeout: 'POSTBOX_PUBLISH_TIMEOUT',
  Unroutable: 'POSTBOX_UNROUTABLE',
  Nacked: 'POSTBOX_NACKED',
  DestinationNotFound: 'POSTBOX_DESTINATION_NOT_FOUND',
  ConnectionLost: 'POSTBOX_CONNECTION_LOST',
  Migration: 'POSTBOX_MIGRATION',
  NotFound: 'POSTBOX_NOT_FOUND',
  Stopped: 'POSTBOX_STOPPED',
  /** A producer facade was called outside any transaction without opting into direct sending. */
  NoTransaction: 'POSTBOX_NO_TRANSACTION',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class PostboxError extends Error {
  readonly code: string;
  readonly [BRAND] = true;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PostboxError';
    this.code = code;
  }
}

/** One problem with one field of user input. */
export interface Problem {
  /** Dotted path of the field, e.g. `messages[2].headers.x-tenant`. */
  readonly field: string;
  /** What is wrong and what to do about it. */
  readonly message: string;
}

function formatProblems(subject: string, problems: readonly Problem[]): string {
  const lines = problems.map((p) => `  - ${p.field}: ${p.message}`);
  const noun = problems.length === 1 ? 'problem' : 'problems';
  return `${subject}: ${problems.length} ${noun}\n${lines.join('\n')}`;
}

/** Bad input to a call (a message, an argument). Nothing was written. */
export class ValidationError extends PostboxError {
  readonly problems: readonly Problem[];

  constructor(subject: string, problems: readonly Problem[]) {
    super(ErrorCode.Validation, formatProblems(subject, problems));
    this.name = 'ValidationError';
    this.problems = Object.freeze([...problems]);
  }
}

/** Bad configuration, detected at start-up. Lists every problem at once. */
export class ConfigError extends PostboxError {
  readonly problems: readonly Problem[];

  constructor(subject: string, problems: readonly Problem[]) {
    super(ErrorCode.Config, formatProblems(subject, problems));
    this.name = 'ConfigError';
    this.problems = Object.freeze([...problems]);
  }
}

/**
 * Thrown by a handler (or reported by a transport) when retrying cannot help:
 * the message is dead-lettered at once with reason `permanent-error`.
 */
export class NonRetryableError extends PostboxError {
  readonly [NON_RETRYABLE] = true;

  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? ErrorCode.NonRetryable, message, options);
    this.name = 'NonRetryableError';
  }
}

/**
 * Thrown by a handler to ask for another attempt after `delayMs` (a rate limit,
 * a dependency that said "come back later"). The attempt still counts towards
 * the policy's maxAttempts.
 */
export class RetryLaterError extends PostboxError {
  readonly [RETRY_LATER] = true;
  readonly delayMs: number;

  constructor(message: string, delayMs: number, options?: { cause?: unknown }) {
    super(ErrorCode.RetryLater, message, options);
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new TypeError(`RetryLaterError: delayMs must be a finite number >= 0, got ${String(delayMs)}`);
    }
    this.name = 'RetryLaterError';
    this.delayMs = delayMs;
  }
}

/** The transport cannot publish at all right now (not connected). Nothing was sent. */
export class TransportUnavailableError extends PostboxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.TransportUnavailable, message, options);
    this.name = 'TransportUnavailableError';
  }
}

function hasBrand(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

export function isPostboxError(value: unknown): value is PostboxError {
  return hasBrand(value, BRAND);
}
export function isNonRetryableError(value: unknown): value is NonRetryableError {
  return hasBrand(value, NON_RETRYABLE);
}
export function isRetryLaterError(value: unknown): value is RetryLaterError {
  return hasBrand(value, RETRY_LATER);
}
export function isTransportUnavailableError(value: unknown): value is TransportUnavailableError {
  return isPostboxError(value) && value.code === ErrorCode.TransportUnavailable;
}

/** Normalises anything thrown into an Error. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : `non-error thrown: ${safeString(value)}`);
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The `code` of an error if it has a string one (postbox, pg, amqplib and Node errors do). */
export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : typeof code === 'number' ? String(code) : undefined;
}
