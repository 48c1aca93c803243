/**
 * Retry policies are plain data (JSON-friendly), declared per topic pattern, validated and
 * compiled once at start-up. decide() turns (policy, attempt facts) into "retry after N ms"
 * or "dead-letter because R"; it is pure given its random source.
 */

export const Jitter = {
  /** random in [0, d]: the default; spreads retries the most. */
  Full: 'full',
  /** d/2 + random in [0, d/2]: keeps at least half the delay. */
  Equal: 'equal',
  /** min(maxMs, random in [initialMs, previous * 3]): AWS "decorrelated jitter". */
  Decorrelated: 'decorrelated',
  /** exactly d. */
  None: 'none',
} as const;
export type Jitter = (typeof Jitter)[keyof typeof Jitter];

export interface Backoff {
  /** Delay before the second attempt (the first retry), before jitter. */
  readonly initialMs: number;
  /** Growth factor per attempt, >= 1. */
  readonly multiplier: number;
  /** Cap on any delay, after jitter. */
  readonly maxMs: number;
  readonly jitter: Jitter;
}

export const Ordering = {
  /** Messages with the same key are published in order; a key in backoff blocks only itself. */
  Key: 'key',
  /** No ordering for this topic: messages go fully parallel and never block or are blocked. */
  None: 'none',
} as const;
export type Ordering = (typeof Ordering)[keyof typeof Ordering];

/** A complete policy. */
export interface RetryPolicy {
  /** Total attempts including the first, >= 1. */
  readonly maxAttempts: number;
  /** Give up when the message is older than this (measured from enqueue). */
  readonly maxAgeMs?: number;
  readonly backoff: Backoff;
  readonly ordering: Ordering;
  /** Error names or codes that are permanent: the message is dead-lettered without retrying. */
  readonly nonRetryable: readonly string[];
}

/** A policy as the user writes it: every field optional, merged over the default policy. */
export interface RetryPolicyInput {
  readonly maxAttempts?: number;
  readonly maxAgeMs?: number;
  readonly backoff?: Partial<Backoff>;
  readonly ordering?: Ordering;
  readonly nonRetryable?: readonly string[];
}

/** What the user configures: a default and per-topic overrides keyed by AMQP topic pattern. */
export interface RetryPoliciesInput {
  readonly default?: RetryPolicyInput;
  /** e.g. { 'orders.*': {...}, 'audit.#': {...} }; the most specific matching pattern wins. */
  readonly topics?: Readonly<Record<string, RetryPolicyInput>>;
}

export const DeadReason = {
  MaxAttempts: 'max-attempts',
  MaxAge: 'max-age',
  PermanentError: 'permanent-error',
  /** Attempts exhausted and the last failure was that no destination takes the message (no queue bound, no such topic or exchange). */
  Unroutable: 'unroutable',
} as const;
export type DeadReason = (typeof DeadReason)[keyof typeof DeadReason];

export type Decision =
  | { readonly action: 'retry'; readonly delayMs: number }
  | { readonly action: 'dead'; readonly reason: DeadReason };

export interface AttemptFacts {
  /** Attempts made so far, including the one that just failed (1 after the first failure). */
  readonly attempt: number;
  readonly error: unknown;
  /** When the message was enqueued (maxAgeMs is measured from here). */
  readonly createdAt: Date;
  readonly now: Date;
  /** The delay chosen before the previous attempt, for decorrelated jitter. */
  readonly previousDelayMs?: number;
}

/** A random source in [0, 1), injectable for tests. */
export type Random = () => number;
