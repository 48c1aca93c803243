/**
 * The BullMQ producer facade: `const queue = outboxQueue(realQueue)` has the shape of the queue,
 * but add() and addBulk() write one outbox message per job in the current transaction instead of
 * adding the job; after the commit the relay (with the BullMQ transport) adds it exactly as the
 * wrapped queue would have: same queue, name, data and options (see facade-jobs.ts, job-route.ts).
 * Every other property and method is the wrapped queue's own (getJob, close, name, ...).
 *
 * Where the call writes: the transaction bound with .using(tx), else the ambient one
 * (withTransaction / inTransaction); outside both, NoTransactionError, or with
 * { outsideTransaction: 'send' } the wrapped queue's own add, retried.
 *
 * A write inside withTransaction / inTransaction is waited for before COMMIT even when the call
 * is not awaited, and a failed write fails the transaction. Bad input (a ValidationError) writes
 * nothing and leaves the transaction usable: the call rejects, as the wrapped queue's would.
 */
import type { BulkJobOptions, Job, JobsOptions, Queue } from 'bullmq';
import type { Queryable } from '../../src/db/queryable.js';
import { ValidationError } from '../../src/errors.js';
import { sendWithRetries } from '../../src/facade/direct.js';
import { facadeTarget, NoTransactionError, OutsideTransaction } from '../../src/facade/scope.js';
import { enqueueRouted } from '../../src/outbox/enqueue.js';
import { uuidv7 } from '../../src/uuid.js';
import { addPath, asJobProblems, bulkPath, checkJobs, prepareJobs, type JobCall, type JobPath, type PreparedJob } from './facade-jobs.js';
import { resolveFacadeOptions, type OutboxQueueOptions, type ResolvedFacadeOptions } from './facade-options.js';
import { isRecord, show } from './validation.js';

/**
 * What add() resolves to once the job's message is written: the job as it will be added, not a
 * BullMQ Job (it is not in Redis yet, so it has no state, methods or progress). With
 * { outsideTransaction: 'send' } outside a transaction, the wrapped queue's own Job instead.
 */
export interface OutboxJob<DataType = unknown, NameType = string> {
  /** The job's id: opts.jobId when given, else the outbox message id. */
  readonly id: string;
  readonly name: NameType;
  /** The data as passed; the job stores its JSON. */
  readonly data: DataType;
  /** The options the job is added with: the queue's defaultJobOptions merged in, jobId and timestamp set. */
  readonly opts: JobsOptions;
  readonly queueName: string;
  /** The outbox message id (the earlier message's when opts.jobId repeats a job id); absent for a job sent directly. */
  readonly messageId?: string;
}

type NameOf<Q extends Queue> = Parameters<Q['add']>[0];
type DataOf<Q extends Queue> = Parameters<Q['add']>[1];

/** The wrapped queue, with add/addBulk writing to the outbox and using(tx) to bind a transaction. */
export type OutboxQueue<Q extends Queue = Queue> = Omit<Q, 'add' | 'addBulk'> & {
  add(name: NameOf<Q>, data: DataOf<Q>, opts?: JobsOptions): Promise<OutboxJob<DataOf<Q>, NameOf<Q>>>;
  addBulk(
    jobs: ReadonlyArray<{ readonly name: NameOf<Q>; readonly data: DataOf<Q>; readonly opts?: BulkJobOptions }>,
  ): Promise<Array<OutboxJob<DataOf<Q>, NameOf<Q>>>>;
  /** This facade bound to a transaction you hold (await each call before you commit). */
  using(tx: Queryable): OutboxQueue<Q>;
};

export type { OutboxQueueOptions };

/**
 * Wraps a BullMQ queue. Throws ConfigError listing every problem with the options, or
 * ValidationError when `topic` is not given and the queue name is not a valid postbox topic.
 */
export function outboxQueue<Q extends Queue>(queue: Q, options: OutboxQueueOptions = {}): OutboxQueue<Q> {
  return facade(queue, resolveFacadeOptions(queue, options), undefined);
}

function facade<Q extends Queue>(queue: Q, config: ResolvedFacadeOptions, bound: Queryable | undefined): OutboxQueue<Q> {
  const direct = sender(queue, config);

  /** Writes the jobs (or sends them directly); resolves to shape(jobs). */
  function submit<T>(calls: readonly JobCall[], at: JobPath, method: 'add' | 'addBulk', shape: (jobs: Array<OutboxJob | Job>) => T): Promise<T> {
    const call = `${config.label}.${method}()`;
    const subject = `${call}: invalid job`;
    const bulk = method === 'addBulk';
    const target = facadeTarget(bound);
    if (target === undefined) {
      if (config.outsideTransaction === OutsideTransaction.Send) return direct(calls, at, subject, bulk).then(shape);
      // Thrown at the call, like bad input: a programming error must not hide in a promise nobody awaits.
      throw new NoTransactionError(call);
    }
    // Bad input throws here, at the call, like the other wrappers: nothing is written, and the
    // transaction is still usable when the caller catches it (and rolls back when it does not).
    const jobs = prepareJobs(config, checkJobs(queue, calls, at, subject, bulk, Date.now()), at, subject);
    const work = (async (): Promise<Array<OutboxJob | Job>> => {
      if (jobs.length === 0) return [];
      let ids: string[];
      try {
        ids = await enqueueRouted(config.outbox, target.db, jobs.map((job) => job.message), jobs.map((job) => job.route));
      } catch (error) {
        throw error instanceof ValidationError ? asJobProblems(error, at, subject) : error;
      }
      return jobs.map((job, i) => outboxJob(job, ids[i]!, config.queueName));
    })();
    // COMMIT waits for the write, and fails with it (a payload over the outbox's limit included).
    target.track(work);
    return reported(work.then(shape), target.tracked);
  }

  const own = {
    add(name: unknown, data: unknown, opts?: unknown) {
      return submit([{ name, data, opts }], addPath, 'add', (jobs) => jobs[0]);
    },
    addBulk(jobs: unknown) {
      if (!Array.isArray(jobs)) {
        throw new ValidationError(`${config.label}.addBulk(): invalid jobs`, [{ field: 'jobs', message: `must be an array of { name, data, opts? }, got ${show(jobs)}` }]);
      }
      const calls = jobs.map((job: unknown): JobCall => (isRecord(job) ? { name: job.name, data: job.data, opts: job.opts } : { name: undefined, data: job, opts: undefined }));
      return submit(calls, bulkPath, 'addBulk', (jobs) => jobs);
    },
    using(tx: Queryable) {
      if (typeof (tx as Partial<Queryable> | null)?.query !== 'function') {
        throw new ValidationError(`${config.label}.using()`, [{ field: 'tx', message: `must be a connection with query(text, values) in an open transaction, got ${show(tx)}` }]);
      }
      return facade(queue, config, tx);
    },
  };
  const methods = new Map<Function, Function>();
  const proxy: OutboxQueue<Q> = new Proxy(queue, {
    get(target, property) {
      if (property === 'add' || property === 'addBulk' || property === 'using') return own[property];
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function' || isClass(value)) return value;
      // The wrapped queue's own methods run on it, as if called directly; one that returns the
      // queue (queue.on(...) for chaining) returns the facade, so a chained add still writes to the outbox.
      let method = methods.get(value);
      if (method === undefined) {
        method = function (this: unknown, ...args: unknown[]) {
          const result: unknown = value.apply(target, args);
          return result === target ? proxy : result;
        };
        methods.set(value, method);
      }
      return method;
    },
  }) as unknown as OutboxQueue<Q>;
  return proxy;
}

/**
 * Direct sending (outsideTransaction: 'send'): the wrapped queue's own add/addBulk, retried under
 * the `retry` policy. A job without opts.jobId gets a UUIDv7 one, so that a retry after an add
 * whose reply was lost is a no-op instead of a second job. No outbox row: a crash loses the call.
 */
function sender(queue: Queue, config: ResolvedFacadeOptions) {
  return async (calls: readonly JobCall[], at: JobPath, subject: string, bulk: boolean): Promise<Job[]> => {
    checkJobs(queue, calls, at, subject, bulk, Date.now());
    const jobs = calls.map((call) => {
      const opts = (call.opts ?? {}) as JobsOptions;
      return { name: call.name as string, data: call.data, opts: { ...opts, jobId: opts.jobId ?? uuidv7() } };
    });
    if (!bulk) {
      const [job] = jobs;
      return [await sendWithRetries(() => queue.add(job!.name, job!.data, job!.opts), config.retryPolicy)];
    }
    return jobs.length === 0 ? [] : sendWithRetries(() => queue.addBulk(jobs), config.retryPolicy);
  };
}

/**
 * The caller's promise of a write. A failure the transaction reports (a tracked write) is marked
 * handled, so a call that is not awaited does not also raise an
 * unhandled rejection; any other failure is left to the caller, as the wrapped queue's would be.
 */
function reported<T>(work: Promise<T>, tracked: boolean): Promise<T> {
  const result: Promise<T> = new Promise((resolve, reject) => {
    work.then(resolve, (error: unknown) => {
      if (tracked) result.catch(() => undefined);
      reject(error);
    });
  });
  return result;
}

function outboxJob(job: PreparedJob, messageId: string, queueName: string): OutboxJob {
  const id = job.opts.jobId ?? messageId;
  return Object.freeze({ id, name: job.name, data: job.data, opts: Object.freeze({ ...job.opts, jobId: id }), queueName, messageId });
}

function isClass(value: Function): boolean {
  return Function.prototype.toString.call(value).startsWith('class');
}
