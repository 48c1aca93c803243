import { decide } from '../retry/decide.js';
import { DeadReason, type RetryPolicy } from '../retry/types.js';
import { errorCode } from '../errors.js';
import { redactText } from '../redact.js';
import type { ClaimedMessage, ErrorEntry, LeaseRef, Settlement } from './store.js';

export type MessageOutcome =
  | { readonly kind: 'published' }
  | { readonly kind: 'retry'; readonly delayMs: number; readonly error: ErrorEntry }
  | { readonly kind: 'dead'; readonly reason: DeadReason; readonly error: ErrorEntry | null }
  | { readonly kind: 'release' };

function leaseRef(message: ClaimedMessage): LeaseRef {
  return { id: message.id, attempt: message.attempt };
}

/** Groups a batch's outcomes into what one settle statement applies. */
export function toSettlement(outcomes: ReadonlyMap<ClaimedMessage, MessageOutcome>): Settlement {
  const settlement: Settlement = { published: [], retried: [], dead: [], released: [] };
  for (const [message, outcome] of outcomes) {
    const ref = leaseRef(message);
    if (outcome.kind === 'published') settlement.published.push(ref);
    else if (outcome.kind === 'retry') settlement.retried.push({ ...ref, delayMs: outcome.delayMs, error: outcome.error });
    else if (outcome.kind === 'dead') settlement.dead.push({ ...ref, reason: outcome.reason, error: outcome.error });
    else settlement.released.push(ref);
  }
  return settlement;
}

const MAX_ERROR_MESSAGE = 2_000;

export function errorEntry(error: Error, attempt: number, now: Date, delayMs?: number): ErrorEntry {
  const code = errorCode(error);
  const entry: { at: string; attempt: number; message: string; code?: string; delayMs?: number } = {
    at: now.toISOString(),
    attempt,
    message: redactText(`${error.name}: ${error.message}`).slice(0, MAX_ERROR_MESSAGE),
  };
  if (code !== undefined) entry.code = code;
  if (delayMs !== undefined) entry.delayMs = delayMs;
  return entry;
}

/**
 * What to do with a message whose publish failed: retry after a backoff, or dead-letter.
 * A failure while the relay is stopping for good (its stop signal aborted the publish) is
 * released instead, whatever error the transport reported: it does not count as an attempt.
 */
export function failureOutcome(
  message: ClaimedMessage,
  error: Error,
  policy: RetryPolicy,
  context: { now: Date; random: () => number; stopping: boolean },
): MessageOutcome {
  if (context.stopping) return { kind: 'release' };
  const decision = decide(
    policy,
    {
      attempt: message.attempt,
      error,
      createdAt: message.createdAt,
      now: context.now,
      previousDelayMs: message.previousDelayMs ?? undefined,
    },
    context.random,
  );
  if (decision.action === 'retry') {
    return { kind: 'retry', delayMs: decision.delayMs, error: errorEntry(error, message.attempt, context.now, decision.delayMs) };
  }
  return { kind: 'dead', reason: decision.reason, error: errorEntry(error, message.attempt, context.now) };
}

/**
 * A message claimed more times than its policy allows (its earlier attempts never finished:
 * the relay crashed or stalled on it) is dead-lettered without another publish.
 */
export function exhaustedBeforePublish(message: ClaimedMessage, policy: RetryPolicy): MessageOutcome | undefined {
  return message.attempt > policy.maxAttempts ? { kind: 'dead', reason: DeadReason.MaxAttempts, error: null } : undefined;
}
