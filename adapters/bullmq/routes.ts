/**
 * Which queue (and job name and options) a postbox topic goes to. `routes` maps postbox topic
 * patterns ('*' one word, '#' any number of words; the most specific pattern wins) to
 * { queue, jobName?, jobOptions? }. A topic no route matches goes to the queue named like the
 * topic, with the topic as job name; a topic that is not a legal queue name (it contains ':')
 * then fails permanently, with an error saying to add a route.
 */
import type { JobsOptions } from 'bullmq';
import type { RetryPolicies } from '../../src/retry/policy.js';
import { checkRouteTable, createCachedRouter, type RouteTable } from '../shared/route-table.js';
import { checkJobOptions, jobOptionsFor, type BullMQJobOptions, type RetainOptions } from './job-options.js';
import { checkKnownFields, queueNameProblem, show, type Problems } from './validation.js';

/** Where the messages of matching postbox topics go. */
export interface BullMQRoute {
  /** The BullMQ queue name. */
  readonly queue: string;
  /** The job name. Default: the postbox topic. */
  readonly jobName?: string;
  /** Job options over postbox's (attempts, backoff, retention); see job-options.ts for what is allowed. */
  readonly jobOptions?: BullMQJobOptions;
}

export type ResolvedRoutes = RouteTable<BullMQRoute>;

export type Destination =
  | { readonly ok: true; readonly queue: string; readonly jobName: string; readonly options: JobsOptions }
  | { readonly ok: false; readonly problem: string };

export function createRouter(routes: ResolvedRoutes, policies: RetryPolicies, retain: Required<RetainOptions>): (topic: string) => Destination {
  return createCachedRouter(routes, (topic, route): Destination => {
    const problem = route === undefined ? queueNameProblem(topic) : undefined;
    return problem === undefined
      ? { ok: true, queue: route?.queue ?? topic, jobName: route?.jobName ?? topic, options: jobOptionsFor(policies.forTopic(topic), retain, route?.jobOptions) }
      : {
          ok: false,
          problem:
            `no route matches postbox topic ${JSON.stringify(topic)} and it is not a legal BullMQ queue name: it ${problem}. ` +
            `Add a route for it (routes: { ${JSON.stringify(topic)}: { queue: "a-queue" } })`,
        };
  });
}

export function checkRoutes(input: unknown, problems: Problems): ResolvedRoutes {
  return checkRouteTable<BullMQRoute>(input, problems, {
    example: '{ "orders.#": { queue: "orders" } }',
    shape: '{ queue, jobName?, jobOptions? }',
    check(route, path) {
      const before = problems.length;
      checkKnownFields(route, ['queue', 'jobName', 'jobOptions'], path, problems);
      const queueProblem = route.queue === undefined ? 'is required: the BullMQ queue name' : queueNameProblem(route.queue);
      if (queueProblem !== undefined) problems.push({ field: `${path}.queue`, message: queueProblem });
      if (route.jobName !== undefined && (typeof route.jobName !== 'string' || route.jobName.length === 0)) {
        problems.push({ field: `${path}.jobName`, message: `must be a non-empty string (default: the postbox topic), got ${show(route.jobName)}` });
      }
      const jobOptions = checkJobOptions(route.jobOptions, `${path}.jobOptions`, problems);
      if (problems.length !== before) return undefined;
      return Object.freeze({
        queue: route.queue as string,
        ...(route.jobName === undefined ? {} : { jobName: route.jobName as string }),
        ...(jobOptions === undefined ? {} : { jobOptions }),
      });
    },
  });
}
