/**
 * The facade's outbox writes, coalesced per connection: the calls made in the same tick, or while
 * the previous write is in flight, go out together in the next INSERT (enqueueRouted, in call
 * order). A loop of publish() calls then costs one round trip per batch instead of one per call,
 * and a transaction's connection never has more than one facade statement waiting (pg 8 warns
 * about queued queries, and pg 9 no longer queues them).
 */
import type { Queryable } from '../../src/db/queryable.js';
import type { MessageInput } from '../../src/message.js';
import { enqueueRouted, type Outbox } from '../../src/outbox/enqueue.js';

interface Pending {
  readonly message: MessageInput;
  readonly route: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface Writer {
  readonly queue: Pending[];
  busy: boolean;
}

const writers = new WeakMap<Queryable, Map<Outbox, Writer>>();

/** Resolves once the message is written; rejects with the error of the INSERT that carried it. */
export function writeRouted(outbox: Outbox, db: Queryable, message: MessageInput, route: string): Promise<void> {
  let byOutbox = writers.get(db);
  if (byOutbox === undefined) writers.set(db, (byOutbox = new Map()));
  let writer = byOutbox.get(outbox);
  if (writer === undefined) byOutbox.set(outbox, (writer = { queue: [], busy: false }));
  const target = writer;
  return new Promise<void>((resolve, reject) => {
    target.queue.push({ message, route, resolve, reject });
    if (target.busy) return;
    target.busy = true;
    queueMicrotask(() => void flush(outbox, db, target));
  });
}

async function flush(outbox: Outbox, db: Queryable, writer: Writer): Promise<void> {
  while (writer.queue.length > 0) {
    const batch = writer.queue.splice(0);
    try {
      await enqueueRouted(outbox, db, batch.map((p) => p.message), batch.map((p) => p.route));
      for (const p of batch) p.resolve();
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }
  writer.busy = false;
}
