import { decide } from '../retry/decide.js';
import type { DeadReason, RetryPolicy } from '../retry/types.js';
import { toError, errorCode } from '../errors.js';
import { redactText } from '../redact.js';
import { startProcessSpan } from '../tracing/process.js';
import type { ConsumedMessage, ConsumeContext, Handler } from './types.js';

/** One failed attempt, as carried in the error history of a retried or dead-lettered delivery. */
export interface AttemptError {
  readonly at: string;
  readonly attempt: number;
  readonly message: string;
  readonly code?: string;
}

/** What an adapter must do with a delivery after the handler ran. */
export type Outcome =
  | { readonly kind: 'ack' }
  | { readonly kind: 'retry'; readonly delayMs: number; readonly error: Error; readonly history: AttemptError[] }
  | { readonly kind: 'dead'; readonly reason: DeadReason; readonly error: Error; readonly history: AttemptError[] };

export interface RunOptions {
  readonly policy: RetryPolicy;
  /** Errors of earlier attempts (read back from the delivery's headers). */
  readonly history?: readonly AttemptError[];
  /** When the first attempt happened; maxAgeMs is measured from here on the consumer side. */
  readonly firstAttemptAt?: Date;
  readonly previousDelayMs?: number;
  readonly now?: () => Date;
  readonly random?: () => number;
}

/**
 * Runs the handler for one delivery and decides, with the topic's policy, what the adapter
 * does next: ack after success; on failure retry after a delay or dead-letter with the history.
 * Never throws: a handler error is data here, so it cannot escape into a client's own loop.
 *
 * Tracing: the handler runs inside a CONSUMER span `process <topic>` whose parent is the trace
 * context in the message's headers (see tracing/process.ts); a no-op without an OpenTelemetry SDK.
 */
export async function runHandler(
  handler: Handler,
  message: ConsumedMessage,
  context: ConsumeContext,
  options: RunOptions,
): Promise<Outcome> {
  const span = startProcessSpan(message, context);
  try {
    await span.run(() => handler(message, context));
    span.end('ack');
    return { kind: 'ack' };
  } catch (thrown) {
    const error = toError(thrown);
    const now = options.now?.() ?? new Date();
    const history = [...(options.history ?? []), attemptError(error, message.attempt, now)];
    const decision = decide(
      options.policy,
      {
        attempt: message.attempt,
        error,
        createdAt: options.firstAttemptAt ?? now,
        now,
        previousDelayMs: options.previousDelayMs,
      },
      options.random,
    );
    const outcome: Outcome =
      decision.action === 'retry'
        ? { kind: 'retry', delayMs: decision.delayMs, error, history }
        : { kind: 'dead', reason: decision.reason, error, history };
    span.end(outcome.kind, error);
    return outcome;
  }
}

/** Bounded: a pathological error message must not blow up a header. */
const MAX_ERROR_MESSAGE = 2_000;

export function attemptError(error: Error, attempt: number, at: Date): AttemptError {
  const code = errorCode(error);
  // Redacted: a handler's error may quote a connection URL, and this text is stored on the broker.
  const message = redactText(`${error.name}: ${error.message}`).slice(0, MAX_ERROR_MESSAGE);
  return code === undefined ? { at: at.toISOString(), attempt, message } : { at: at.toISOString(), attempt, message, code };
}

/** Keeps the error history small enough for broker headers: the first and the last entries. */
export function trimHistory(history: readonly AttemptError[], max = 20): AttemptError[] {
  if (history.length <= max) return [...history];
  const head = Math.ceil(max / 2);
  return [...history.slice(0, head), ...history.slice(history.length - (max - head))];
}

/** Parses an error history header; tolerates garbage (returns []). */
export function parseHistory(value: unknown): AttemptError[] {
  if (typeof value !== 'string' && !Buffer.isBuffer(value)) return [];
  try {
    const parsed: unknown = JSON.parse(String(value));
    return Array.isArray(parsed) ? (parsed.filter((e) => typeof e === 'object' && e !== null) as AttemptError[]) : [];
  } catch {
    return [];
  }
}
