/**
 * The facade's outbox writes, coalesced per connection: the calls made in the same tick, or while
 * the previous write is in flight, go out together in the next INSERT (enqueueRouted, in call
 * order). A loop of publish() calls then costs one round trip per batch instead of one per call,
 * and a transaction's connection never has more than one facade statement waiting (pg 8 warns
 * about queued queries, and pg 9 no longer queues them).
 */
import type { Queryable } from '../../src/db/queryable.js';
import { ValidationError, type Problem } from '../../src/errors.js';
import type { MessageInput } from '../../src/message.js';
import { enqueueRouted, type Outbox } from '../../src/outbox/enqueue.js';

interface Pending {
  /** The facade method, for errors: publish or sendToQueue. */
  readonly call: string;
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

/**
 * Resolves once the message is written; rejects with the error of the INSERT that carried it, or
 * with a ValidationError of its own when the outbox refused it (over maxPayloadBytes): the other
 * calls of that batch are then written without it.
 */
export function writeRouted(outbox: Outbox, db: Queryable, call: string, message: MessageInput, route: string): Promise<void> {
  let byOutbox = writers.get(db);
  if (byOutbox === undefined) writers.set(db, (byOutbox = new Map()));
  let writer = byOutbox.get(outbox);
  if (writer === undefined) byOutbox.set(outbox, (writer = { queue: [], busy: false }));
  const target = writer;
  return new Promise<void>((resolve, reject) => {
    target.queue.push({ call, message, route, resolve, reject });
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
      const refused = error instanceof ValidationError ? problemsByCall(error, batch.length) : undefined;
      if (refused === undefined) {
        for (const p of batch) p.reject(error);
        continue;
      }
      // Refused before any SQL: only the calls with a problem fail; the others go in the next INSERT, in order.
      batch.forEach((p, i) => {
        const problems = refused[i];
        if (problems !== undefined) p.reject(new ValidationError(`channel.${p.call}(): invalid arguments, nothing was written`, problems));
      });
      writer.queue.unshift(...batch.filter((_, i) => refused[i] === undefined));
    }
  }
  writer.busy = false;
}

/** The outbox's field names as the caller spelled them: the payload is the content, the rest are options. */
const CALL_FIELDS: Readonly<Record<string, string>> = {
  payload: 'content',
  contentType: 'options.contentType',
  correlationId: 'options.correlationId',
  replyTo: 'options.replyTo',
};

/**
 * The problems of an enqueue ValidationError per message of the batch (`message.payload` or
 * `messages[2].payload`), renamed for the call; undefined when a problem names no message.
 */
function problemsByCall(error: ValidationError, size: number): Array<Problem[] | undefined> | undefined {
  if (error.problems.length === 0) return undefined;
  const byIndex: Array<Problem[] | undefined> = new Array<Problem[] | undefined>(size);
  for (const problem of error.problems) {
    const match = /^(?:message|messages\[(\d+)\])\.(\w+)(.*)$/.exec(problem.field);
    const index = match === null ? undefined : Number(match[1] ?? 0);
    if (match === null || index === undefined || index >= size) return undefined;
    (byIndex[index] ??= []).push({ ...problem, field: `${CALL_FIELDS[match[2]!] ?? match[2]}${match[3]}` });
  }
  return byIndex;
}
