/**
 * The BullMQ Transport: adds each outbox message as a job (jobId = message id, so a re-publish is
 * a no-op while the job is retained), one Queue.addBulk per queue per publish() call, and reports
 * one result per message in batch order within publishTimeoutMs.
 *
 * addBulk sends its jobs in one Redis pipeline (not a MULTI: each job is added by its own script,
 * atomically, but the jobs of one pipeline are independent). When it fails, BullMQ reports the
 * first error and drops every other reply, so which jobs were added is unknown: the group's
 * messages all fail (a later re-publish of a job that was added is a no-op). When Redis refused
 * (rather than the connection failing), each job of the group is added again alone, so that only
 * the jobs Redis refuses fail.
 *
 * A message written by the producer facade (outboxQueue(), facade.ts) carries a route: it is added
 * as the wrapped queue would have added it (job-route.ts), not by the topic routes; a message
 * without one costs one header lookup more.
 *
 * See options.ts (options), routes.ts (topic -> queue), job-options.ts (retention, attempts,
 * backoff), wire.ts (job data), connection.ts and redis-session.ts (the fail-fast connection),
 * classify.ts and failures.ts (errors).
 */
import type { Job, JobsOptions, Queue } from 'bullmq';
import { TransportUnavailableError, toError } from '../../src/errors.js';
import { Header, type OutboxMessage } from '../../src/message.js';
import { redactText } from '../../src/redact.js';
import { failed, PUBLISHED, type Connectable, type PublishChunking, type PublishOptions, type PublishResult, type Transport } from '../../src/transport.js';
import { scatterGroupResults } from '../shared/batch-groups.js';
import { createCallsInFlight } from '../shared/calls-in-flight.js';
import { classifyRedisError } from './classify.js';
import { addFailed, badJson, noDestination, stopped, timedOut } from './failures.js';
import { BULLMQ_DEFAULTS, resolveTransportOptions, type BullMQTransportOptions } from './options.js';
import { prefixOf, routedJob } from './job-route.js';
import { createQueueRegistry } from './queues.js';
import { createRedisSession, type RedisSession } from './redis-session.js';
import { createRouter } from './routes.js';
import { race, remainingMs } from './timing.js';
import { toJobData } from './wire.js';

export interface BullMQTransport extends Transport, Connectable, PublishChunking {
  readonly name: 'bullmq';
}

interface BulkJob {
  readonly name: string;
  readonly data: unknown;
  readonly opts: JobsOptions;
}

interface Group {
  readonly queue: string;
  /** The key prefix of a queue the transport creates. */
  readonly prefix: string;
  /** The given queue the group goes to, if any (else one created on the connection). */
  readonly given: Queue | undefined;
  readonly indexes: number[];
  readonly messages: OutboxMessage[];
  readonly jobs: BulkJob[];
}

/** A group's results, and whether nothing of it reached Redis. */
interface Settled {
  readonly results: PublishResult[];
  readonly notSent: boolean;
}

/** close() waits at most this long (and at most publishTimeoutMs) for publishes in flight. */
const CLOSE_GRACE_MS = 5_000;

/**
 * Creates the transport; throws ConfigError listing every problem with the options. Connects
 * lazily (or in connect()). close() closes the connection and queues it made, never an ioredis
 * client or a Queue that was passed in.
 */
export function createBullMQTransport(options: BullMQTransportOptions): BullMQTransport {
  const config = resolveTransportOptions(options);
  const { publishTimeoutMs, connectTimeoutMs, target, jobData } = config;
  const session: RedisSession | undefined =
    config.source === undefined
      ? undefined
      : createRedisSession(
          config.source,
          { connectTimeoutMs, commandTimeoutMs: publishTimeoutMs, reconnect: config.reconnect, connectionName: config.connectionName },
          target,
          config.logger,
        );
  const registry = createQueueRegistry(config.queues, config.prefix);
  const route = createRouter(config.routes, config.policies, config.retain);
  const stopping = new AbortController();
  let closing: Promise<void> | undefined;
  const calls = createCallsInFlight();

  const unavailable = (what: string, cause?: unknown): TransportUnavailableError =>
    new TransportUnavailableError(
      `${what} (${target})${cause === undefined ? '' : `: ${redactText(toError(cause).message)}`}; nothing was published`,
      cause === undefined ? undefined : { cause },
    );
  const closedError = (): TransportUnavailableError => unavailable('the bullmq transport was closed; create a new transport to publish again');

  /** Sorts the batch into one group per queue; messages that cannot become jobs get their (permanent) failure. */
  function groupBatch(batch: readonly OutboxMessage[], results: Array<PublishResult | undefined>): Map<string, Group> {
    const groups = new Map<string, Group>();
    const join = (i: number, message: OutboxMessage, queue: string, given: Queue | undefined, prefix: string, job: BulkJob): void => {
      const key = `${given === undefined ? prefix : prefixOf(given)}\u0000${queue}`;
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = { queue, prefix, given, indexes: [], messages: [], jobs: [] }));
      group.indexes.push(i);
      group.messages.push(message);
      group.jobs.push(job);
    };
    for (let i = 0; i < batch.length; i++) {
      const message = batch[i]!;
      if (message.headers[Header.Route] !== undefined) {
        const routed = routedDestination(message);
        if (routed instanceof Error) results[i] = failed(routed);
        else join(i, message, routed.queue, routed.given, routed.prefix, routed.job);
        continue;
      }
      const destination = route(message.topic);
      if (!destination.ok) {
        results[i] = failed(noDestination(message, destination.problem));
        continue;
      }
      const given = registry.given(destination.queue);
      if (session === undefined && given === undefined) {
        results[i] = failed(noDestination(message, `queue ${JSON.stringify(destination.queue)} is not in queues and the transport has no connection to create it on; pass the queue, a connection, or a route`));
        continue;
      }
      let data: unknown;
      try {
        data = toJobData(message, jobData);
      } catch (error) {
        results[i] = failed(badJson(message, error));
        continue;
      }
      join(i, message, destination.queue, given, config.prefix, { name: destination.jobName, data, opts: { ...destination.options, jobId: message.id } });
    }
    return groups;
  }

  /** A facade's message: the job as the wrapped queue would have added it, to that queue and prefix; or why it cannot be (permanent). */
  function routedDestination(message: OutboxMessage): { queue: string; given: Queue | undefined; prefix: string; job: BulkJob } | Error {
    let job;
    try {
      job = routedJob(message);
    } catch (error) {
      return toError(error);
    }
    const given = registry.given(job.queue, job.prefix);
    if (session === undefined && given === undefined) {
      return noDestination(
        message,
        `the queue outboxQueue() wrapped, ${JSON.stringify(job.queue)} (key prefix ${JSON.stringify(job.prefix)}), is not in queues and the transport has no connection ` +
          'to create it on; pass that queue in queues, or a connection to its Redis',
      );
    }
    return { queue: job.queue, given, prefix: job.prefix, job: { name: job.name, data: job.data, opts: job.opts } };
  }

  async function sendGroup(queue: Queue, group: Group, deadline: number, signal: AbortSignal): Promise<Settled> {
    const all = (make: (m: OutboxMessage) => Error, notSent = false): Settled => ({ results: group.messages.map((m) => failed(make(m))), notSent });
    let outcome;
    try {
      outcome = await race<Job[]>(queue.addBulk(group.jobs), remainingMs(deadline), signal);
    } catch (error) {
      const failure = classifyRedisError(error);
      if ((failure.kind === 'rejected' || failure.kind === 'invalid') && group.jobs.length > 1) {
        return { results: await sendAlone(queue, group, deadline, signal), notSent: false };
      }
      return all((m) => addFailed(m, group.queue, target, failure, error, publishTimeoutMs), failure.kind === 'not-sent');
    }
    if (outcome.kind === 'timeout') return all((m) => timedOut(m, group.queue, publishTimeoutMs));
    if (outcome.kind === 'aborted') return all(stopped);
    return { results: group.messages.map(() => PUBLISHED), notSent: false };
  }

  /** Each job of a group that Redis refused, added on its own: only the jobs Redis refuses again fail. */
  function sendAlone(queue: Queue, group: Group, deadline: number, signal: AbortSignal): Promise<PublishResult[]> {
    return Promise.all(
      group.jobs.map(async (job, j): Promise<PublishResult> => {
        const message = group.messages[j]!;
        try {
          const outcome = await race(queue.add(job.name, job.data, job.opts), remainingMs(deadline), signal);
          if (outcome.kind === 'timeout') return failed(timedOut(message, group.queue, publishTimeoutMs));
          if (outcome.kind === 'aborted') return failed(stopped(message));
          return PUBLISHED;
        } catch (error) {
          return failed(addFailed(message, group.queue, target, classifyRedisError(error), error, publishTimeoutMs));
        }
      }),
    );
  }

  async function publish(batch: readonly OutboxMessage[], { signal }: PublishOptions): Promise<PublishResult[]> {
    if (closing !== undefined) throw closedError();
    if (batch.length === 0) return [];
    if (signal.aborted) return batch.map((m) => failed(stopped(m)));
    const deadline = Date.now() + publishTimeoutMs;
    const combined = AbortSignal.any([signal, stopping.signal]);
    calls.begin();
    try {
      const results = new Array<PublishResult | undefined>(batch.length);
      const groups = groupBatch(batch, results);
      if (groups.size === 0) return results as PublishResult[];

      // Queues made by the transport need its connection: fail fast (nothing sent) while Redis is down.
      let redis;
      if (session !== undefined && [...groups.values()].some((group) => group.given === undefined)) {
        const acquired = await race(session.acquire(Math.min(connectTimeoutMs, remainingMs(deadline))), remainingMs(deadline), combined).catch(
          (error: unknown) => {
            throw unavailable('cannot reach Redis', error);
          },
        );
        if (acquired.kind === 'aborted') return batch.map((m, i) => results[i] ?? failed(stopped(m)));
        if (acquired.kind === 'timeout') throw unavailable(`Redis did not answer within ${publishTimeoutMs} ms (publishTimeoutMs) while connecting`);
        redis = acquired.value;
      }
      const sending = [...groups.values()];
      const settled = await Promise.all(sending.map((group) => sendGroup(group.given ?? registry.get(group.queue, redis!, group.prefix), group, deadline, combined)));
      if (settled.every((s) => s.notSent)) {
        const first = settled[0]!.results[0]!;
        throw unavailable('Redis refused every command (the connection is down)', first.ok ? undefined : first.error.cause);
      }
      scatterGroupResults(results, sending, settled.map((s) => s.results));
      return results as PublishResult[];
    } finally {
      calls.end();
    }
  }

  return {
    name: 'bullmq',
    preferredChunkSize: BULLMQ_DEFAULTS.preferredChunkSize,
    publish,
    async connect() {
      if (closing !== undefined) throw closedError();
      if (session !== undefined) {
        await session.acquire(connectTimeoutMs).catch((error: unknown) => {
          throw unavailable('cannot connect to Redis', error);
        });
      }
      for (const queue of config.queues.values()) {
        const ready = await race(queue.waitUntilReady(), connectTimeoutMs).catch((error: unknown) => {
          throw unavailable(`queue ${JSON.stringify(queue.name)} cannot reach its Redis`, error);
        });
        if (ready.kind !== 'value') throw unavailable(`queue ${JSON.stringify(queue.name)} did not reach its Redis within ${connectTimeoutMs} ms (connectTimeoutMs)`);
      }
    },
    close() {
      closing ??= (async () => {
        await calls.idle(Math.min(CLOSE_GRACE_MS, publishTimeoutMs));
        stopping.abort(); // what is still waiting fails with ErrorCode.Stopped
        await registry.close();
        await session?.close();
      })();
      return closing;
    },
  };
}
