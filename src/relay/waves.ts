import type { ClaimedMessage } from './store.js';

/**
 * Splits a claimed batch (in seq order) into waves that keep per-key order: wave i holds the
 * i-th message of each ordered key; unkeyed messages and messages of unordered topics all go in
 * the first wave. The relay sends a wave only after the previous one was confirmed, and drops a
 * key from later waves when its message failed, so n+1 never goes out before n.
 */
export function splitIntoWaves(
  batch: readonly ClaimedMessage[],
  isOrdered: (topic: string) => boolean,
): ClaimedMessage[][] {
  const waves: ClaimedMessage[][] = [[]];
  const depth = new Map<string, number>();
  for (const message of batch) {
    if (message.key === null || !isOrdered(message.topic)) {
      (waves[0] as ClaimedMessage[]).push(message);
      continue;
    }
    const index = depth.get(message.key) ?? 0;
    depth.set(message.key, index + 1);
    (waves[index] ??= []).push(message);
  }
  return waves;
}
