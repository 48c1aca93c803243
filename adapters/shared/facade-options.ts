/**
 * The options every producer wrapper (outboxChannel, outboxProducer, outboxQueue) shares:
 * `outbox`, `outsideTransaction` and `retry`, checked the same way for all three.
 */
import { ConfigError } from '../../src/errors.js';
import { OutsideTransaction } from '../../src/facade/scope.js';
import { defaultOutbox, isOutbox, type Outbox } from '../../src/outbox/enqueue.js';
import { compileRetryPolicies } from '../../src/retry/policy.js';
import type { RetryPolicy, RetryPolicyInput } from '../../src/retry/types.js';
import { checkOptional, isRecord, type Problems } from './option-checks.js';

export const FACADE_COMMON_FIELDS = ['outbox', 'outsideTransaction', 'retry'] as const;

/**
 * Direct sending's default policy: a direct send runs in the caller's request, so it gives up
 * within seconds (5 attempts, 100 ms doubling to 2 s, full jitter), not the relay's minutes.
 */
export const DIRECT_SEND_POLICY: RetryPolicyInput = Object.freeze({
  maxAttempts: 5,
  backoff: Object.freeze({ initialMs: 100, multiplier: 2, maxMs: 2_000, jitter: 'full' as const }),
});

export interface FacadeCommon {
  readonly outbox: Outbox;
  readonly outsideTransaction: OutsideTransaction;
  /** The policy of direct sends (outsideTransaction 'send'). */
  readonly retryPolicy: RetryPolicy;
}

const MODES: readonly unknown[] = Object.values(OutsideTransaction);

/** Checks the shared options, pushing every problem; undefined when one of them is wrong. */
export function checkFacadeCommon(options: Readonly<Record<string, unknown>>, problems: Problems): FacadeCommon | undefined {
  const before = problems.length;
  checkOptional(options.outbox, isOutbox, 'must be an outbox from createOutbox({ schema })', 'outbox', problems);
  checkOptional(options.outsideTransaction, (v) => MODES.includes(v), `must be ${MODES.map((m) => `'${String(m)}'`).join(' or ')}`, 'outsideTransaction', problems);
  if (options.retry !== undefined && options.outsideTransaction !== OutsideTransaction.Send) {
    problems.push({ field: 'retry', message: "applies only to direct sending (inside a transaction the relay's policies apply); set outsideTransaction: 'send', or remove it" });
  }
  const retryPolicy = compileRetry(options.retry, problems);
  if (problems.length > before || retryPolicy === undefined) return undefined;
  return Object.freeze({
    outbox: (options.outbox as Outbox | undefined) ?? defaultOutbox(),
    outsideTransaction: (options.outsideTransaction as OutsideTransaction | undefined) ?? OutsideTransaction.Error,
    retryPolicy,
  });
}

/** `retry` merged over DIRECT_SEND_POLICY field by field (backoff too), then compiled. */
function compileRetry(retry: unknown, problems: Problems): RetryPolicy | undefined {
  const input = !isRecord(retry)
    ? (retry ?? DIRECT_SEND_POLICY)
    : { ...DIRECT_SEND_POLICY, ...retry, backoff: isRecord(retry.backoff) ? { ...DIRECT_SEND_POLICY.backoff, ...retry.backoff } : (retry.backoff ?? DIRECT_SEND_POLICY.backoff) };
  try {
    return compileRetryPolicies({ default: input as RetryPolicyInput }).default;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems.map((p) => ({ ...p, field: p.field.replace(/^policies\.default/, 'retry') })));
    return undefined;
  }
}
