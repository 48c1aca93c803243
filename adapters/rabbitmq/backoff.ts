/** Reconnect delays: exponential bound with full jitter. Pure given its random source. */

export interface ReconnectBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * The delay before the next attempt after `failures` consecutive failed attempts (0 right after
 * a connection was lost): random in [0, min(maxMs, initialMs * 2^failures)], whole milliseconds.
 */
export function reconnectDelayMs(backoff: ReconnectBackoff, failures: number, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(0, Math.floor(failures)), 30);
  const bound = Math.min(backoff.maxMs, backoff.initialMs * 2 ** exponent);
  const r = Math.min(1, Math.max(0, random()));
  return Math.floor(r * bound);
}
