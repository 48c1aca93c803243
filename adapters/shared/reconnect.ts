/**
 * The `reconnect` option of the adapters' connections ({ initialMs?, maxMs? }): its type and its
 * check. The delays themselves are the core's backoff (src/retry/backoff.ts), each adapter
 * choosing its jitter.
 */
import { checkKnownFields, checkOptional, isPositiveInteger, isRecord, show, type Problems } from './option-checks.js';

export interface ReconnectOptions {
  /** The first delay (its upper bound, with jitter). Default: the adapter's (100 ms). */
  readonly initialMs?: number;
  /** Cap of the delay, which doubles after each failed attempt. Default: the adapter's. */
  readonly maxMs?: number;
}

/** Checks `reconnect`, pushing every problem; the defaults fill what is not set (or wrong). */
export function checkReconnect(input: unknown, defaults: Required<ReconnectOptions>, problems: Problems): Required<ReconnectOptions> {
  if (input === undefined) return defaults;
  if (!isRecord(input)) {
    problems.push({ field: 'reconnect', message: `must be an object { initialMs?, maxMs? }, got ${show(input)}` });
    return defaults;
  }
  checkKnownFields(input, ['initialMs', 'maxMs'], 'reconnect', problems);
  const okInitial = checkOptional(input.initialMs, isPositiveInteger, 'must be a whole number of milliseconds > 0', 'reconnect.initialMs', problems);
  const okMax = checkOptional(input.maxMs, isPositiveInteger, 'must be a whole number of milliseconds > 0', 'reconnect.maxMs', problems);
  const initialMs = (input.initialMs as number | undefined) ?? defaults.initialMs;
  const maxMs = (input.maxMs as number | undefined) ?? defaults.maxMs;
  if (okInitial && okMax && maxMs < initialMs) problems.push({ field: 'reconnect.maxMs', message: `must be >= initialMs (${initialMs}), got ${maxMs}` });
  return Object.freeze({ initialMs, maxMs });
}
