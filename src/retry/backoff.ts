/**
 * Backoff delays: pure functions of a Backoff value, the attempt number and an injected random
 * source. Delays are whole milliseconds.
 */
import type { Backoff, Random } from './types.js';

/**
 * The delay before jitter after `attempt` attempts (1 after the first failure):
 * floor(min(maxMs, initialMs * multiplier^(attempt - 1))). Never NaN or Infinity: the cap is
 * detected in log space before the power is computed, so any attempt (even Infinity) is safe.
 * An attempt below 1 (or NaN) counts as 1; a fractional attempt is rounded down.
 * Non-decreasing in attempt; always within [0, maxMs].
 */
export function baseDelayMs(backoff: Backoff, attempt: number): number {
  const cap = nonNegative(backoff.maxMs);
  const initial = Math.min(nonNegative(backoff.initialMs), cap);
  const growths = attempt >= 1 ? Math.floor(attempt) - 1 : 0;
  if (initial === 0 || growths === 0 || !(backoff.multiplier > 1)) return Math.floor(initial);
  if (growths * Math.log(backoff.multiplier) >= Math.log(cap / initial)) return Math.floor(cap);
  return Math.floor(Math.min(cap, initial * backoff.multiplier ** growths));
}

/**
 * The delay to wait before the next attempt, in whole milliseconds, after `attempt` attempts.
 * With d = baseDelayMs(backoff, attempt) and r = random() (clamped into [0, 1]):
 * - none: d
 * - full: floor(r * d), within [0, d]
 * - equal: floor(d/2 + r * d/2), within [floor(d/2), d]
 * - decorrelated: floor(min(maxMs, initialMs + r * (3 * max(previousDelayMs ?? initialMs, initialMs) - initialMs))),
 *   within [floor(min(initialMs, maxMs)), maxMs]; the previous delay is clamped to maxMs (and a
 *   non-finite one ignored) so the arithmetic cannot overflow. Ignores `attempt`.
 * The result is always an integer within [0, maxMs].
 */
export function backoffDelayMs(
  backoff: Backoff,
  attempt: number,
  random: Random = Math.random,
  previousDelayMs?: number,
): number {
  switch (backoff.jitter) {
    case 'none':
      return baseDelayMs(backoff, attempt);
    case 'full':
      return Math.floor(unit(random) * baseDelayMs(backoff, attempt));
    case 'equal': {
      const d = baseDelayMs(backoff, attempt);
      return Math.floor(d / 2 + (unit(random) * d) / 2);
    }
    case 'decorrelated':
      return decorrelatedDelayMs(backoff, unit(random), previousDelayMs);
    default:
      return baseDelayMs(backoff, attempt);
  }
}

function decorrelatedDelayMs(backoff: Backoff, r: number, previousDelayMs: number | undefined): number {
  const cap = nonNegative(backoff.maxMs);
  const initial = nonNegative(backoff.initialMs);
  const previous = Number.isFinite(previousDelayMs) ? Math.min(previousDelayMs as number, cap) : initial;
  const high = Math.max(previous, initial) * 3;
  return Math.floor(Math.min(cap, initial + r * (high - initial)));
}

/** A random draw forced into [0, 1] (a misbehaving source must not break the bounds). */
function unit(random: Random): number {
  const r = random();
  if (!(r > 0)) return 0;
  return r > 1 ? 1 : r;
}

/** A duration forced into [0, MAX_SAFE_INTEGER]: NaN and negatives are 0, Infinity is capped. */
function nonNegative(value: number): number {
  return value > 0 ? Math.min(value, Number.MAX_SAFE_INTEGER) : 0;
}
