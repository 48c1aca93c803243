import { backoffDelayMs } from '../../src/retry/backoff.js';
import { Jitter } from '../../src/retry/types.js';

/** Reconnect delays of the connection and the consumer. */
export interface ReconnectBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * The delay before the next attempt after `failures` consecutive failed attempts (0 right after
 * a connection was lost): the core's backoff, doubling from initialMs up to maxMs, full jitter.
 */
export function reconnectDelayMs(backoff: ReconnectBackoff, failures: number, random: () => number = Math.random): number {
  return backoffDelayMs({ ...backoff, multiplier: 2, jitter: Jitter.Full }, Math.max(0, failures) + 1, random);
}
