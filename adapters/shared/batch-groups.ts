/**
 * Transports that send a batch in groups (per Kafka topic, per BullMQ queue) get each group's
 * results in the group's order; the relay wants them in batch order.
 */
import type { PublishResult } from '../../src/transport.js';

/** Puts each group's results back at the batch positions its messages came from (`indexes`). */
export function scatterGroupResults(
  results: Array<PublishResult | undefined>,
  groups: ReadonlyArray<{ readonly indexes: readonly number[] }>,
  settled: ReadonlyArray<readonly PublishResult[] | undefined>,
): void {
  groups.forEach((group, g) => {
    settled[g]?.forEach((result, j) => {
      results[group.indexes[j]!] = result;
    });
  });
}
