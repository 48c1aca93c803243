/**
 * Which queue (and job name and options) a postbox topic goes to. `routes` maps postbox topic
 * patterns ('*' one word, '#' any number of words; the most specific pattern wins) to
 * { queue, jobName?, jobOptions? }. A topic no route matches goes to the queue named like the
 * topic, with the topic as job name; a topic that is not a legal queue name (it contains ':')
 * then fails permanently, with an error saying to add a route.
 */
import type { JobsOptions } from 'bullmq';
import type { RetryPolicies } from '../../src/retry/policy.js';
import { createPatternTable, duplicatePatterns, patternProblem } from '../../src/topic.js';
import { checkJobOptions, jobOptionsFor, type BullMQJobOptions, type RetainOptions } from './job-options.js';
import { checkKnownFields, isRecord, queueNameProblem, show, type Problems } from './validation.js';

/** Where the messages of matching postbox topics go. */
export interface BullMQRoute {
  /** The BullMQ queue name. */
  readonly queue: string;
  /** The job name. Default: the postbox topic. */
  readonly jobName?: string;
  /** Job options over postbox's (attempts, backoff, retention); see job-options.ts for what is allowed. */
  readonly jobOptions?: BullMQJobOptions;
}

export type ResolvedRoutes = ReadonlyArray<readonly [pattern: string, route: BullMQRoute]>;

export type Destination =
  | { readonly ok: true; readonly queue: string; readonly jobName: string; readonly options: JobsOptions }
  | { readonly ok: false; readonly problem: string };

export function createRouter(routes: ResolvedRoutes, policies: RetryPolicies, retain: Required<RetainOptions>): (topic: string) => Destination {
  const table = createPatternTable(routes);
  const cache = new Map<string, Destination>();
  return (topic) => {
    let destination = cache.get(topic);
    if (destination !== undefined) return destination;
    const route = table.lookup(topic);
    const queue = route?.queue ?? topic;
    const problem = route === undefined ? queueNameProblem(topic) : undefined;
    destination =
      problem === undefined
        ? { ok: true, queue, jobName: route?.jobName ?? topic, options: jobOptionsFor(policies.forTopic(topic), retain, route?.jobOptions) }
        : {
            ok: false,
            problem:
              `no route matches postbox topic ${JSON.stringify(topic)} and it is not a legal BullMQ queue name: it ${problem}. ` +
              `Add a route for it (routes: { ${JSON.stringify(topic)}: { queue: "a-queue" } })`,
          };
    if (cache.size >= 10_000) cache.clear();
    cache.set(topic, destination);
    return destination;
  };
}

export function checkRoutes(input: unknown, problems: Problems): ResolvedRoutes {
  if (input === undefined) return [];
  if (!isRecord(input)) {
    problems.push({ field: 'routes', message: `must be an object keyed by topic pattern, e.g. { "orders.#": { queue: "orders" } }, got ${show(input)}` });
    return [];
  }
  const routes: Array<readonly [string, BullMQRoute]> = [];
  for (const [pattern, route] of Object.entries(input)) {
    const path = `routes[${JSON.stringify(pattern)}]`;
    const problem = patternProblem(pattern);
    if (problem !== undefined) problems.push({ field: path, message: `is not a valid topic pattern: it ${problem}` });
    if (!isRecord(route)) {
      problems.push({ field: path, message: `must be an object { queue, jobName?, jobOptions? }, got ${show(route)}` });
      continue;
    }
    const before = problems.length;
    checkKnownFields(route, ['queue', 'jobName', 'jobOptions'], path, problems);
    const queueProblem = route.queue === undefined ? 'is required: the BullMQ queue name' : queueNameProblem(route.queue);
    if (queueProblem !== undefined) problems.push({ field: `${path}.queue`, message: queueProblem });
    if (route.jobName !== undefined && (typeof route.jobName !== 'string' || route.jobName.length === 0)) {
      problems.push({ field: `${path}.jobName`, message: `must be a non-empty string (default: the postbox topic), got ${show(route.jobName)}` });
    }
    const jobOptions = checkJobOptions(route.jobOptions, `${path}.jobOptions`, problems);
    if (problem === undefined && problems.length === before) {
      routes.push(
        Object.freeze([
          pattern,
          Object.freeze({
            queue: route.queue as string,
            ...(route.jobName === undefined ? {} : { jobName: route.jobName as string }),
            ...(jobOptions === undefined ? {} : { jobOptions }),
          }),
        ]),
      );
    }
  }
  for (const duplicate of duplicatePatterns(routes.map(([pattern]) => pattern))) {
    problems.push({ field: `routes[${JSON.stringify(duplicate)}]`, message: 'matches exactly the same topics as another route; keep only one of them' });
  }
  return Object.freeze(routes);
}
