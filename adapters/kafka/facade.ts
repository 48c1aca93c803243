/**
 * The kafkajs producer facade: `outboxProducer(producer)` has the producer's shape, but send() and
 * sendBatch() write one outbox message per Kafka message in the current transaction instead of
 * sending; the relay with the Kafka transport later sends each record exactly as the producer
 * would have (facade-route.ts). Everything else (connect, disconnect, on, transaction, ...) is
 * the wrapped producer's own, called on it.
 *
 * Where a call writes: the transaction bound with .using(tx), else the ambient one of
 * withTransaction / inTransaction (src/db/ambient.ts), whose COMMIT waits for the write even when
 * the call is not awaited, and fails if it failed. Outside any transaction: a NoTransactionError
 * thrown at the call, or with { outsideTransaction: 'send' } the wrapped producer's own send, retried
 * (src/facade/direct.ts).
 *
 * Bad input (facade-input.ts) throws a ValidationError at the call, before any SQL. Only a value
 * over the outbox's maxPayloadBytes is found while writing: that call rejects and, as any failed
 * write, fails the transaction.
 */
import type { Queryable } from '../../src/db/queryable.js';
import { ValidationError } from '../../src/errors.js';
import { sendWithRetries } from '../../src/facade/direct.js';
import { facadeTarget, NoTransactionError } from '../../src/facade/scope.js';
import { enqueueRouted } from '../../src/outbox/enqueue.js';
import { sendBatchWrite, sendWrite, type FacadeWrite } from './facade-input.js';
import { resolveFacadeOptions, type OutboxProducerOptions, type ResolvedFacadeOptions, type SendingProducer } from './facade-options.js';

/**
 * The wrapped producer's type, plus using(tx). send() and sendBatch() resolve once the messages
 * are written to the outbox, with an empty array: nothing was sent yet, so there is no partition
 * or offset to report (in direct mode they resolve with the producer's own metadata).
 */
export type OutboxProducer<P extends SendingProducer> = P & {
  /** A facade that writes in `tx` (a connection with an open transaction) instead of the ambient transaction. */
  using(tx: Queryable): OutboxProducer<P>;
};

type Method = 'send' | 'sendBatch';

/**
 * Wraps a kafkajs producer (or one with its API): change `const producer = kafka.producer()` users
 * into `const producer = outboxProducer(kafka.producer(), options)`. Throws ConfigError listing
 * every problem with the options.
 */
export function outboxProducer<P extends SendingProducer>(producer: P, options?: OutboxProducerOptions): OutboxProducer<P> {
  const config = resolveFacadeOptions(producer, options);
  const methods = new WeakMap<object, unknown>();

  /** The producer's own property; its methods bound to it (cached: the same function each read). */
  function passThrough(prop: string | symbol): unknown {
    const value: unknown = Reflect.get(producer, prop, producer);
    if (typeof value !== 'function') return value;
    let bound = methods.get(value);
    if (bound === undefined) methods.set(value, (bound = (value as (...args: unknown[]) => unknown).bind(producer)));
    return bound;
  }

  function facade(tx: Queryable | undefined): OutboxProducer<P> {
    const own: Record<string, unknown> = {
      send: (record: unknown) => call(config, producer, 'send', record, tx),
      sendBatch: (batch: unknown) => call(config, producer, 'sendBatch', batch, tx),
      using: (next: unknown) => facade(checkTransaction(next)),
    };
    return new Proxy(producer, {
      get: (_target, prop) => (typeof prop === 'string' && Object.hasOwn(own, prop) ? own[prop] : passThrough(prop)),
      has: (target, prop) => (typeof prop === 'string' && Object.hasOwn(own, prop)) || Reflect.has(target, prop),
    }) as OutboxProducer<P>;
  }

  return facade(undefined);
}

function call(config: ResolvedFacadeOptions, producer: SendingProducer, method: Method, input: unknown, tx: Queryable | undefined): Promise<unknown> {
  const target = facadeTarget(tx);
  if (target === undefined) {
    // Thrown at the call, like bad input: a programming error must not hide in a promise nobody awaits.
    if (config.direct === undefined) throw new NoTransactionError(`producer.${method}()`);
    const send = producer[method] as (input: unknown) => Promise<unknown>;
    return sendWithRetries(() => send.call(producer, input), config.direct);
  }
  // Thrown at the call, not as a rejection: a caught ValidationError leaves the transaction usable
  // (nothing was tracked), and one from a send nobody awaits still fails the transaction's code.
  const rows = method === 'send' ? sendWrite(input, config.topic) : sendBatchWrite(input, config.topic);
  const writing = write(config, method, rows, target.db);
  target.track(writing);
  // The ambient scope fails the transaction with the error; a call nobody awaits must not also crash the process.
  if (target.tracked) writing.catch(() => undefined);
  return writing;
}

async function write(config: ResolvedFacadeOptions, method: Method, rows: FacadeWrite, db: Queryable): Promise<never[]> {
  if (rows.messages.length === 0) return [];
  try {
    await enqueueRouted(config.outbox, db, rows.messages, rows.routes);
  } catch (error) {
    throw error instanceof ValidationError ? renamed(error, method, rows) : error;
  }
  return [];
}

/** The outbox's checks name `messages[i].payload`; the caller wrote `topicMessages[t].messages[j].value`. */
function renamed(error: ValidationError, method: Method, rows: FacadeWrite): ValidationError {
  const problems = error.problems.map((problem) => {
    const match = /^(?:message|messages\[(\d+)\])(\..*)?$/.exec(problem.field);
    const path = match === null ? undefined : rows.paths[Number(match[1] ?? 0)];
    if (match === null || path === undefined) return problem;
    const rest = match[2] ?? '';
    return { ...problem, field: `${path}${rest === '.payload' ? '.value' : rest}` };
  });
  return new ValidationError(`kafka producer facade ${method}(): invalid input, nothing was written`, problems);
}

function checkTransaction(tx: unknown): Queryable {
  if (typeof tx === 'object' && tx !== null && typeof (tx as Partial<Queryable>).query === 'function') return tx as Queryable;
  throw new ValidationError('kafka producer facade using(tx)', [
    { field: 'tx', message: 'must be a connection with an open transaction (pg PoolClient or Client after BEGIN, or any object with query(text, values))' },
  ]);
}
