/**
 * The jobs of an outboxQueue() add/addBulk call, checked and turned into outbox messages with
 * their routes, before any SQL. Every problem of every job is reported in one ValidationError
 * that names the field, so nothing is written and the caller's transaction stays usable.
 *
 * - Options are merged as the wrapped queue merges them (its defaultJobOptions under the job's),
 *   and recorded with the job, so the relay adds them even on a queue object without those defaults.
 * - `timestamp` is set to the time of the call when not given: BullMQ stamps a job when it is
 *   added and counts `delay` from that stamp, so the job keeps the creation time and the due time
 *   the wrapped queue would have given it, however late the relay adds it.
 * - Data is recorded as the JSON text BullMQ would store (undefined becomes {}, as in BullMQ); what
 *   JSON.stringify throws on (a BigInt, a cycle) is refused naming the field.
 * - Options must survive JSON exactly; repeatable jobs and flows are refused (see REFUSED), and
 *   BullMQ's own checks of an add (job id, priority, size limit, deduplication id, jitter) run
 *   here, so a job the queue would refuse fails at the call, not later in the relay.
 */
import { createHash } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import { ValidationError, type Problem } from '../../src/errors.js';
import { ContentType, type MessageInput } from '../../src/message.js';
import { topicProblem } from '../../src/topic.js';
import type { ResolvedFacadeOptions } from './facade-options.js';
import { encodeJobRoute } from './job-route.js';
import { inexactJson, stringifyFailure } from './json-check.js';
import { isRecord, show } from './validation.js';

/** One job as the caller passed it (add's arguments, or an addBulk entry). */
export interface JobCall {
  readonly name: unknown;
  readonly data: unknown;
  readonly opts: unknown;
}

/** A job checked for the queue: the JSON of its data and the options it is added with. */
export interface CheckedJob {
  readonly name: string;
  readonly data: unknown;
  readonly json: string;
  readonly opts: JobsOptions;
}

/** A checked job with its outbox message and route. */
export interface PreparedJob extends CheckedJob {
  readonly message: MessageInput;
  readonly route: string;
}

const FLOWS =
  'flows are not supported: a child job needs its parent in Redis when it is added, which the outbox cannot promise. Add the flow with a FlowProducer after the commit';

/** Options refused, and why: what the outbox cannot add honestly later, or BullMQ internals. */
const REFUSED: Readonly<Record<string, string>> = {
  repeat:
    'repeatable jobs are job schedulers, not one job: call queue.upsertJobScheduler(...) instead (it passes through to the wrapped queue, outside the outbox)',
  parent: FLOWS,
  failParentOnFailure: FLOWS,
  continueParentOnFailure: FLOWS,
  ignoreDependencyOnFailure: FLOWS,
  removeDependencyOnFailure: FLOWS,
  prevMillis: 'is internal to BullMQ repeatable jobs; remove it',
  repeatJobKey: 'is internal to BullMQ repeatable jobs; remove it',
  debounce: 'was removed from BullMQ; use deduplication',
};

const PRIORITY_LIMIT = 2 ** 21;
const MAX_JOB_ID_BYTES = 255;
const MESSAGE_FIELDS: Readonly<Record<string, string>> = { payload: 'data', idempotencyKey: 'opts.jobId', key: 'key', topic: 'topic' };

/** Where the job of index i is in the call: '' for add(), 'jobs[i].' for addBulk(). */
export type JobPath = (index: number) => string;
export const addPath: JobPath = () => '';
export const bulkPath: JobPath = (index) => `jobs[${index}].`;

/** Checks the jobs as the wrapped queue would add them; throws ValidationError listing every problem. */
export function checkJobs(queue: Queue, calls: readonly JobCall[], at: JobPath, subject: string, bulk: boolean, now: number): CheckedJob[] {
  const problems: Problem[] = [];
  const checked = calls.map((call, i) => checkJob(queue, call, at(i), bulk, now, problems));
  if (problems.length > 0) throw new ValidationError(subject, problems);
  return checked as CheckedJob[];
}

/** The checked jobs with their messages (topic, key, payload, idempotency key from the job id) and routes. */
export function prepareJobs(config: ResolvedFacadeOptions, jobs: readonly CheckedJob[], at: JobPath, subject: string): PreparedJob[] {
  const problems: Problem[] = [];
  const prepared = jobs.map((job, i): PreparedJob => {
    const topic = config.topic(config.queueName, job.name);
    const problem = topicProblem(topic);
    if (problem !== undefined) {
      problems.push({ field: `${at(i)}topic`, message: `topic(${JSON.stringify(config.queueName)}, ${JSON.stringify(job.name)}) returned ${show(topic)}, which ${problem}` });
    }
    const key = config.key?.(job.name, job.data, job.opts);
    if (key !== undefined && key !== null && typeof key !== 'string') {
      problems.push({ field: `${at(i)}key`, message: `key(...) must return a string, null or undefined, got ${show(key)}` });
    }
    const message: MessageInput = {
      topic,
      key: typeof key === 'string' ? key : null,
      payload: Buffer.from(job.json, 'utf8'),
      contentType: ContentType.Json,
      ...(job.opts.jobId === undefined ? {} : { idempotencyKey: jobIdKey(config.prefix, config.queueName, job.opts.jobId) }),
    };
    const route = encodeJobRoute({ queue: config.queueName, prefix: config.prefix, name: job.name, opts: job.opts });
    return { ...job, message, route };
  });
  if (problems.length > 0) throw new ValidationError(subject, problems);
  return prepared;
}

/**
 * The outbox idempotency key of a job id. BullMQ job ids are unique per queue (key prefix and
 * name), while the outbox dedups per (topic, key): the key names the queue, so that queues that
 * share a topic (a `topic` option, or one name under two prefixes) do not swallow each other's jobs.
 * Over the outbox's 255 bytes, the SHA-256 of it.
 */
export function jobIdKey(prefix: string, queueName: string, jobId: string): string {
  const key = `${prefix}:${queueName}:${jobId}`;
  return Buffer.byteLength(key, 'utf8') <= MAX_JOB_ID_BYTES ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** An enqueue ValidationError, with its fields named as the caller knows them (messages[1].payload -> jobs[1].data). */
export function asJobProblems(error: ValidationError, at: JobPath, subject: string): ValidationError {
  const renamed = error.problems.map((p) => {
    const match = /^(?:message|messages\[(\d+)\])\.(\w+)(.*)$/.exec(p.field);
    if (match === null) return p;
    const [, index, field, rest] = match;
    return { ...p, field: `${at(Number(index ?? 0))}${MESSAGE_FIELDS[field!] ?? field}${rest}` };
  });
  return new ValidationError(subject, renamed);
}

function checkJob(queue: Queue, call: JobCall, at: string, bulk: boolean, now: number, problems: Problem[]): CheckedJob | undefined {
  const before = problems.length;
  if (typeof call.name !== 'string') problems.push({ field: `${at}name`, message: `must be a string (the job name), got ${show(call.name)}` });
  const json = serialiseData(call.data, `${at}data`, problems);
  const opts = mergeOptions(queue, call.opts, `${at}opts`, bulk, now, problems);
  if (opts !== undefined && json !== undefined) checkBullMQRules(opts, json, at, problems);
  if (problems.length > before) return undefined;
  return { name: call.name as string, data: call.data, json: json!, opts: opts! };
}

function serialiseData(data: unknown, field: string, problems: Problem[]): string | undefined {
  let json: string | undefined;
  try {
    json = JSON.stringify(data === undefined ? {} : data); // as BullMQ stores it
  } catch (error) {
    problems.push(stringifyFailure(data, field, error));
    return undefined;
  }
  if (json === undefined) problems.push({ field, message: `must be a JSON value (BullMQ stores the data as JSON), got ${show(data)}` });
  return json;
}

/** The options as Queue.add / addBulk merge them, with the call's time as timestamp; undefined when JSON cannot carry them. */
function mergeOptions(queue: Queue, input: unknown, field: string, bulk: boolean, now: number, problems: Problem[]): JobsOptions | undefined {
  if (input !== undefined && input !== null && !isRecord(input)) {
    problems.push({ field, message: `must be an object of BullMQ job options, got ${show(input)}` });
    return undefined;
  }
  const own = (input ?? {}) as Record<string, unknown>;
  const merged: Record<string, unknown> = { ...queue.defaultJobOptions, ...own, jobId: own.jobId };
  if (bulk) merged.telemetry = own.telemetry; // addBulk takes telemetry from the job only
  for (const [name, why] of Object.entries(REFUSED)) {
    const value = merged[name];
    if (value !== undefined && value !== false) problems.push({ field: `${field}.${name}`, message: `cannot be used with outboxQueue(): ${why}` });
  }
  const inexact = inexactJson(merged, field);
  if (inexact !== undefined) {
    problems.push(inexact);
    return undefined;
  }
  const opts = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as JobsOptions;
  return { ...opts, timestamp: opts.timestamp ?? now };
}

/** The checks BullMQ makes when a job is added (Queue.addJob and Job.validateOptions), naming the field. */
function checkBullMQRules(opts: JobsOptions, json: string, at: string, problems: Problem[]): void {
  const field = `${at}opts`;
  const { jobId } = opts as { jobId?: unknown };
  if (jobId !== undefined) {
    const problem = jobIdProblem(jobId);
    if (problem !== undefined) problems.push({ field: `${field}.jobId`, message: problem });
  }
  const priority = opts.priority as unknown;
  if (priority !== undefined && priority !== 0 && !(typeof priority === 'number' && Number.isInteger(priority) && priority <= PRIORITY_LIMIT)) {
    problems.push({ field: `${field}.priority`, message: `must be a whole number up to ${PRIORITY_LIMIT}, got ${show(priority)}` });
  }
  const { sizeLimit } = opts;
  if (typeof sizeLimit === 'number' && sizeLimit > 0 && Buffer.byteLength(json, 'utf8') > sizeLimit) {
    problems.push({ field: `${at}data`, message: `is ${Buffer.byteLength(json, 'utf8')} bytes as JSON, over opts.sizeLimit (${sizeLimit})` });
  }
  const dedup = opts.deduplication as unknown;
  if (dedup !== undefined && !(isRecord(dedup) && typeof dedup.id === 'string' && dedup.id.length > 0)) {
    problems.push({ field: `${field}.deduplication.id`, message: 'is required: the deduplication id (a non-empty string)' });
  }
  const backoff = opts.backoff as unknown;
  if (isRecord(backoff) && backoff.jitter !== undefined && !(typeof backoff.jitter === 'number' && backoff.jitter >= 0 && backoff.jitter <= 1)) {
    problems.push({ field: `${field}.backoff.jitter`, message: `must be a number from 0 to 1, got ${show(backoff.jitter)}` });
  }
}

function jobIdProblem(jobId: unknown): string | undefined {
  if (typeof jobId !== 'string' || jobId.length === 0) return `must be a non-empty string, got ${show(jobId)}`;
  if (jobId === '0' || jobId.startsWith('0:')) return `cannot be '0' or start with '0:' (BullMQ refuses it), got ${show(jobId)}`;
  if (`${parseInt(jobId, 10)}` === jobId) return `cannot be an integer (BullMQ numbers its own jobs); use a prefix such as "order-${jobId}"`;
  if (jobId.includes(':')) return `cannot contain ':' (BullMQ separates its Redis key parts with it), got ${show(jobId)}`;
  if (jobId.includes('\u0000')) return 'must not contain the NUL character (\\u0000)';
  const bytes = Buffer.byteLength(jobId, 'utf8');
  if (bytes > MAX_JOB_ID_BYTES) return `must be at most ${MAX_JOB_ID_BYTES} bytes of UTF-8, got ${bytes}`;
  return undefined;
}
