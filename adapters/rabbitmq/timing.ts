/** Waiting helpers: the adapters' shared ones, and how long a channel close may take. */
export * from '../shared/timing.js';

/** How long a polite channel close may take before the caller moves on (the connection close kills it). */
export const CHANNEL_CLOSE_TIMEOUT_MS = 2_000;
