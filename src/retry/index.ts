/** Retry policies: plain data, validated and compiled once; pure backoff and decide(). */
export { DeadReason, Jitter, Ordering } from './types.js';
export type {
  AttemptFacts,
  Backoff,
  Decision,
  Random,
  RetryPoliciesInput,
  RetryPolicy,
  RetryPolicyInput,
} from './types.js';
export { backoffDelayMs, baseDelayMs } from './backoff.js';
export { DEFAULT_RETRY_POLICY, compileRetryPolicies, orderingCaseSql } from './policy.js';
export type { RetryPolicies } from './policy.js';
export { classifyError, decide } from './decide.js';
export type { ErrorClass } from './decide.js';
