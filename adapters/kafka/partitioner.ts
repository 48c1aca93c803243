/**
 * Where kafkajs puts a record without a key: round-robin, and again on each of its own retries of a
 * request. A retried request can so put records on other partitions than its first try, while the
 * idempotent producer reuses the sequence numbers of the first try: the broker then rejects the
 * records (OUT_OF_ORDER_SEQUENCE_NUMBER) or takes one for a duplicate of another it already has and
 * drops it. This wraps kafkajs's partitioner so that a keyless record is placed by the hash of its
 * postbox message id (the postbox-message-id header) instead: every try sends it to the same
 * partition, and keyless messages still spread evenly. Keyed records are placed as before
 * (kafkajs's Java-compatible murmur2 of the key).
 */
import { Header } from '../../src/message.js';

interface PartitionerArgs {
  readonly message: {
    readonly key?: Buffer | string | null;
    readonly partition?: number;
    readonly headers?: { readonly [name: string]: unknown };
  };
}

export function stableKeylessPartitioner<A extends PartitionerArgs>(base: () => (args: A) => number): () => (args: A) => number {
  return () => {
    const partition = base();
    return (args) => {
      const { message } = args;
      const id = message.headers?.[Header.MessageId];
      const keyless = message.key === null || message.key === undefined;
      if (!keyless || (message.partition !== undefined && message.partition !== null)) return partition(args);
      if (typeof id !== 'string' && !Buffer.isBuffer(id)) return partition(args);
      return partition({ ...args, message: { ...message, key: id } });
    };
  };
}
