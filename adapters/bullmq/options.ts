/**
 * Options of the BullMQ transport: types, defaults (one constant) and validation that reports
 * every problem at once in one ConfigError, never echoing credentials.
 *
 * The transport needs `connection` (it makes and owns a fail-fast Redis connection and the
 * queues it creates on it; see connection.ts), `queues` (existing BullMQ Queue objects, used as
 * they are and never closed), or both: a queue named in `queues` is used for its name, any other
 * queue is created on the connection.
 */
import type { Queue } from 'bullmq';
import { ConfigError } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import type { RetryPolicies } from '../../src/retry/policy.js';
import type { RetryPoliciesInput } from '../../src/retry/types.js';
import { checkReconnect, type ReconnectOptions } from '../shared/reconnect.js';
import { checkConnection, describeSource, type BullMQConnection, type ConnectionSource } from './connection.js';
import { ageSeconds, DEFAULT_RETAIN_MS, republishSpanMs, type RetainOptions } from './job-options.js';
import { checkRoutes, type BullMQRoute, type ResolvedRoutes } from './routes.js';
import type { JobDataMode } from './wire.js';
import { checkKnownFields, checkOptional, checkPolicies, isPositiveInteger, isRecord, queueNameProblem, show, type Problems } from './validation.js';

export interface BullMQTransportOptions {
  /** A Redis URL, ioredis options or an ioredis instance (duplicated with fail-fast settings; never closed). */
  readonly connection?: BullMQConnection;
  /** Existing queues, used as they are (their own connection and prefix) and never closed. */
  readonly queues?: readonly Queue[];
  /** Postbox topic pattern -> queue. Unmatched topics go to the queue named like the topic. */
  readonly routes?: Readonly<Record<string, BullMQRoute>>;
  /** BullMQ key prefix of the queues the transport creates. Default 'bull' (BullMQ's). */
  readonly prefix?: string;
  /** 'envelope' (default): job.data is a PostboxJobData; 'payload': the payload value alone (see wire.ts). */
  readonly jobData?: JobDataMode;
  /** The relay's retry policies: each job's attempts is its topic's maxAttempts. */
  readonly policies?: RetryPoliciesInput;
  /** Keep finished jobs this long (the dedup window). Default 7 days each; at least the policies' retry span. */
  readonly retain?: RetainOptions;
  /** A publish() call resolves within this time, counted from its start. Default 10 000. */
  readonly publishTimeoutMs?: number;
  /** Bound on one connect attempt. Default 5 000. */
  readonly connectTimeoutMs?: number;
  /** Background reconnect backoff of the owned connection. Default { initialMs: 100, maxMs: 5 000 }. */
  readonly reconnect?: ReconnectOptions;
  /** Shown by Redis (CLIENT LIST). Default 'postbox-relay'. */
  readonly connectionName?: string;
  /** Receives connection warnings (lost, back), credentials redacted. Default: none. */
  readonly logger?: Logger;
}

export const BULLMQ_DEFAULTS = Object.freeze({
  prefix: 'bull',
  jobData: 'envelope' as JobDataMode,
  retain: Object.freeze({ completedMs: DEFAULT_RETAIN_MS, failedMs: DEFAULT_RETAIN_MS }),
  publishTimeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  reconnect: Object.freeze({ initialMs: 100, maxMs: 5_000 }),
  connectionName: 'postbox-relay',
  /** Messages per publish() call the relay should send: one addBulk (one pipeline) per queue. */
  preferredChunkSize: 500,
});

export interface ResolvedTransportOptions {
  readonly source: ConnectionSource | undefined;
  readonly queues: ReadonlyMap<string, Queue>;
  readonly routes: ResolvedRoutes;
  readonly prefix: string;
  readonly jobData: JobDataMode;
  readonly policies: RetryPolicies;
  readonly retain: Required<RetainOptions>;
  readonly publishTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly reconnect: Required<ReconnectOptions>;
  readonly connectionName: string;
  readonly logger: Logger | undefined;
  /** Where the jobs go, for messages (credentials redacted). */
  readonly target: string;
}

const FIELDS = [
  'connection',
  'queues',
  'routes',
  'prefix',
  'jobData',
  'policies',
  'retain',
  'publishTimeoutMs',
  'connectTimeoutMs',
  'reconnect',
  'connectionName',
  'logger',
];
const CONNECTION_ONLY = ['prefix', 'connectTimeoutMs', 'reconnect', 'connectionName'];
const SUBJECT = 'bullmq transport options';

export function resolveTransportOptions(input: unknown): ResolvedTransportOptions {
  if (!isRecord(input)) {
    throw new ConfigError(SUBJECT, [{ field: 'options', message: `must be an object with connection and/or queues, got ${show(input)}` }]);
  }
  const problems: Problems = [];
  checkKnownFields(input, FIELDS, '', problems);
  const source = input.connection === undefined ? undefined : checkConnection(input.connection, 'connection', problems);
  const queues = checkQueues(input.queues, problems);
  if (input.connection === undefined && input.queues === undefined) {
    problems.push({ field: 'connection', message: 'is required (or queues): a Redis URL such as redis://127.0.0.1:6379, ioredis options or an ioredis instance' });
  }
  if (input.connection === undefined) {
    for (const field of CONNECTION_ONLY) {
      if (input[field] !== undefined) problems.push({ field, message: 'applies only to queues the transport creates on its connection; set connection, or configure your queues' });
    }
  }
  const routes = checkRoutes(input.routes, problems);
  if (input.connection === undefined && input.queues !== undefined) {
    for (const [pattern, route] of routes) {
      if (!queues.has(route.queue)) {
        problems.push({ field: `routes[${JSON.stringify(pattern)}].queue`, message: `names queue ${JSON.stringify(route.queue)}, which is not in queues; pass that queue, or a connection to create it on` });
      }
    }
  }
  if (input.prefix !== undefined) {
    const problem = queueNameProblem(input.prefix, 'key prefix');
    if (problem !== undefined) problems.push({ field: 'prefix', message: problem });
  }
  checkOptional(input.jobData, (v) => v === 'envelope' || v === 'payload', "must be 'envelope' or 'payload'", 'jobData', problems);
  const policies = checkPolicies(input.policies, problems);
  const retain = checkRetain(input.retain, problems);
  checkOptional(input.publishTimeoutMs, isPositiveInteger, 'must be a whole number of milliseconds > 0', 'publishTimeoutMs', problems);
  checkOptional(input.connectTimeoutMs, isPositiveInteger, 'must be a whole number of milliseconds > 0', 'connectTimeoutMs', problems);
  const reconnect = checkReconnect(input.reconnect, BULLMQ_DEFAULTS.reconnect, problems);
  checkOptional(input.connectionName, (v) => typeof v === 'string' && /^[!-~]+$/.test(v), 'must be a string of visible ASCII characters without spaces (a Redis client name)', 'connectionName', problems);
  const isLogger = (v: unknown): boolean => isRecord(v) && ['debug', 'info', 'warn', 'error'].every((m) => typeof v[m] === 'function');
  checkOptional(input.logger, isLogger, 'must be a logger with debug, info, warn and error methods', 'logger', problems);
  const publishTimeoutMs = isPositiveInteger(input.publishTimeoutMs) ? input.publishTimeoutMs : BULLMQ_DEFAULTS.publishTimeoutMs;
  if (policies !== undefined) checkRetention(policies, retain, routes, publishTimeoutMs, problems);
  if (problems.length > 0 || policies === undefined) throw new ConfigError(SUBJECT, problems);
  return Object.freeze({
    source,
    queues,
    routes,
    prefix: (input.prefix as string | undefined) ?? BULLMQ_DEFAULTS.prefix,
    jobData: (input.jobData as JobDataMode | undefined) ?? BULLMQ_DEFAULTS.jobData,
    policies,
    retain,
    publishTimeoutMs: (input.publishTimeoutMs as number | undefined) ?? BULLMQ_DEFAULTS.publishTimeoutMs,
    connectTimeoutMs: (input.connectTimeoutMs as number | undefined) ?? BULLMQ_DEFAULTS.connectTimeoutMs,
    reconnect,
    connectionName: (input.connectionName as string | undefined) ?? BULLMQ_DEFAULTS.connectionName,
    logger: input.logger as Logger | undefined,
    target: source === undefined ? 'the Redis of the given queues' : describeSource(source),
  });
}

export function isQueue(value: unknown): value is Queue {
  const v = value as Partial<Queue> | null;
  return typeof v === 'object' && v !== null && typeof v.addBulk === 'function' && typeof v.name === 'string' && typeof v.close === 'function';
}

function checkQueues(input: unknown, problems: Problems): ReadonlyMap<string, Queue> {
  const queues = new Map<string, Queue>();
  if (input === undefined) return queues;
  if (!Array.isArray(input)) {
    problems.push({ field: 'queues', message: `must be an array of BullMQ Queue objects, got ${show(input)}` });
    return queues;
  }
  input.forEach((queue: unknown, i) => {
    if (!isQueue(queue)) {
      problems.push({ field: `queues[${i}]`, message: `must be a BullMQ Queue (new Queue(name, { connection })), got ${show(queue)}` });
    } else if (queues.has(queue.name)) {
      problems.push({ field: `queues[${i}]`, message: `is a second queue named ${JSON.stringify(queue.name)}; pass each queue once` });
    } else {
      queues.set(queue.name, queue);
    }
  });
  return queues;
}


function checkRetain(input: unknown, problems: Problems): Required<RetainOptions> {
  const defaults = BULLMQ_DEFAULTS.retain;
  if (input === undefined) return defaults;
  if (!isRecord(input)) {
    problems.push({ field: 'retain', message: `must be an object { completedMs?, failedMs? }, got ${show(input)}` });
    return defaults;
  }
  checkKnownFields(input, ['completedMs', 'failedMs'], 'retain', problems);
  const why = 'how long finished jobs stay in Redis, so that a re-publish of their message is a no-op; 0 or less would remove them at once';
  checkOptional(input.completedMs, isPositiveInteger, `must be a whole number of milliseconds > 0 (${why})`, 'retain.completedMs', problems);
  checkOptional(input.failedMs, isPositiveInteger, `must be a whole number of milliseconds > 0 (${why})`, 'retain.failedMs', problems);
  return Object.freeze({
    completedMs: (input.completedMs as number | undefined) ?? defaults.completedMs,
    failedMs: (input.failedMs as number | undefined) ?? defaults.failedMs,
  });
}

/** Every retention (retain and routes' removeOn*) must cover the longest span in which the relay may publish a message again. */
function checkRetention(policies: RetryPolicies, retain: Required<RetainOptions>, routes: ResolvedRoutes, publishTimeoutMs: number, problems: Problems): void {
  const spans = [
    { name: 'policies.default', span: republishSpanMs(policies.default, publishTimeoutMs) },
    ...policies.entries.map((e) => ({ name: `policies.topics[${JSON.stringify(e.pattern.source)}]`, span: republishSpanMs(e.policy, publishTimeoutMs) })),
  ];
  const longest = spans.reduce((a, b) => (b.span > a.span ? b : a));
  const check = (field: string, retainedMs: number): void => {
    if (retainedMs >= longest.span) return;
    problems.push({
      field,
      message:
        `keeps finished jobs ${retainedMs} ms, shorter than the ${longest.span} ms in which the relay may publish a message again under ${longest.name} ` +
        `(its backoff over maxAttempts, or maxAgeMs): a re-publish after the job was removed would make a second job. Keep jobs at least that long`,
    });
  };
  check('retain.completedMs', ageSeconds(retain.completedMs) * 1000);
  check('retain.failedMs', ageSeconds(retain.failedMs) * 1000);
  for (const [pattern, route] of routes) {
    for (const name of ['removeOnComplete', 'removeOnFail'] as const) {
      const keep = route.jobOptions?.[name];
      if (keep !== undefined && keep !== false) check(`routes[${JSON.stringify(pattern)}].jobOptions.${name}.age`, keep.age * 1000);
    }
  }
}
