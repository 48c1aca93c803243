/**
 * The route of a job written by the BullMQ producer facade (outboxQueue(), facade.ts): the wrapped
 * queue's name and key prefix, the job name and the job options, as JSON in the message's
 * reserved `postbox-route` header. The job data is the message payload: the JSON text BullMQ
 * would have stored for the user's data.
 *
 * The transport adds a routed message exactly as the wrapped queue would have added the job:
 * that queue, that name, the data as-is (never postbox's envelope), those options. The one thing it
 * fills in is the job id when the user gave none: the message id, so a re-publish is a no-op.
 */
import type { JobsOptions } from 'bullmq';
import { NonRetryableError, ErrorCode } from '../../src/errors.js';
import { encodeRoute, routeOf, type Route } from '../../src/facade/route.js';
import { Header, type OutboxMessage } from '../../src/message.js';
import { isRecord } from './validation.js';

export const BULLMQ_TRANSPORT_NAME = 'bullmq';

/** BullMQ's default key prefix. */
export const DEFAULT_PREFIX = 'bull';

export interface BullMQJobRoute extends Route {
  readonly transport: typeof BULLMQ_TRANSPORT_NAME;
  readonly queue: string;
  readonly prefix: string;
  /** The job name. */
  readonly name: string;
  /** The job options as the wrapped queue would have used them (its defaultJobOptions merged in). */
  readonly opts: JobsOptions;
}

/** The job a routed message becomes. */
export interface RoutedJob {
  readonly queue: string;
  readonly prefix: string;
  readonly name: string;
  readonly data: unknown;
  readonly opts: JobsOptions;
}

export function encodeJobRoute(route: Omit<BullMQJobRoute, 'transport'>): string {
  return encodeRoute({ transport: BULLMQ_TRANSPORT_NAME, queue: route.queue, prefix: route.prefix, name: route.name, opts: route.opts });
}

/** The key prefix of a BullMQ queue. */
export function prefixOf(queue: { readonly opts?: { readonly prefix?: string } }): string {
  return queue.opts?.prefix ?? DEFAULT_PREFIX;
}

/**
 * The job a routed message becomes. Throws NonRetryableError (the message is dead-lettered) when
 * the route is another transport's, is not one the BullMQ facade writes, or the payload is not
 * the JSON of the job data.
 */
export function routedJob(message: OutboxMessage): RoutedJob {
  const route = routeOf<BullMQJobRoute>(message, BULLMQ_TRANSPORT_NAME)!;
  const problem = shapeProblem(route);
  if (problem !== undefined) {
    throw new NonRetryableError(`message ${message.id}: its ${Header.Route} header ${problem}; it was not written by outboxQueue()`, {
      code: ErrorCode.Validation,
    });
  }
  let data: unknown;
  try {
    data = JSON.parse(message.payload.toString('utf8'));
  } catch (error) {
    throw new NonRetryableError(
      `message ${message.id}: the payload of a job written by outboxQueue() must be the JSON of the job data, but it does not parse ` +
        `(${(error as Error).message})`,
      { cause: error, code: ErrorCode.Validation },
    );
  }
  const opts = route.opts.jobId === undefined ? { ...route.opts, jobId: message.id } : route.opts;
  return { queue: route.queue, prefix: route.prefix, name: route.name, data, opts };
}

function shapeProblem(route: Partial<BullMQJobRoute>): string | undefined {
  if (typeof route.queue !== 'string' || route.queue.length === 0 || route.queue.includes(':')) return 'has no valid queue name';
  if (typeof route.prefix !== 'string' || route.prefix.length === 0) return 'has no valid key prefix';
  if (typeof route.name !== 'string') return 'has no job name';
  if (!isRecord(route.opts)) return 'has no job options object';
  if (route.opts.jobId !== undefined && typeof route.opts.jobId !== 'string') return 'has a job id that is not a string';
  return undefined;
}
