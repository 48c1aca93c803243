/**
 * Holds partitions back without blocking the fetch loop: pause(), and resume() when a timer fires.
 * While a partition is paused kafkajs fetches the others and keeps heartbeating; the records of the
 * paused partition that were not resolved are fetched again after the resume, from the first
 * unresolved offset. A partition held again before its timer fired keeps the later of the two times.
 */
import type { KafkaConsumerLike } from './client.js';

export interface PartitionGate {
  /** Pauses the partition for delayMs (0: just until the next fetch). */
  holdFor(topic: string, partition: number, delayMs: number): void;
  /** Forgets every timer (the consumer is stopping). */
  clear(): void;
}

interface Hold {
  readonly until: number;
  readonly timer: NodeJS.Timeout;
}

export function createPartitionGate(consumer: () => KafkaConsumerLike | undefined, onError: (error: unknown) => void): PartitionGate {
  const holds = new Map<string, Hold>();

  function call(action: 'pause' | 'resume', topic: string, partition: number): void {
    try {
      consumer()?.[action]([{ topic, partitions: [partition] }]);
    } catch (error) {
      // kafkajs throws while its consumer group restarts; the record is fetched again then anyway.
      onError(error);
    }
  }

  return {
    holdFor(topic, partition, delayMs) {
      const key = `${partition}:${topic}`;
      const until = Date.now() + Math.max(0, delayMs);
      const current = holds.get(key);
      if (current !== undefined && current.until >= until) return;
      if (current !== undefined) clearTimeout(current.timer);
      call('pause', topic, partition);
      const timer = setTimeout(() => {
        holds.delete(key);
        call('resume', topic, partition);
      }, until - Date.now());
      holds.set(key, { until, timer });
    },
    clear() {
      for (const hold of holds.values()) clearTimeout(hold.timer);
      holds.clear();
    },
  };
}
