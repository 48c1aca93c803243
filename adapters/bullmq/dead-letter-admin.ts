/**
 * Looking at the dead-letter queue of a BullMQ worker: list, show, count and purge. Jobs in it that
 * postbox did not write are left out (and left alone). Oldest first.
 */
import { Queue, type Job } from 'bullmq';
import { ConfigError, type Problem } from '../../src/errors.js';
import { deadLetterJobId, deadLetterQueueName, isDeadLetterData, toDeadLetter, type BullMQDeadLetter, type BullMQDeadLetterData } from './dead-letters.js';
import { checkConnection, openWorkerRedis, type BullMQWorkerConnection, type WorkerRedis } from './worker-connection.js';
import { checkKnownFields, checkOptional, isNonEmptyString, isPositiveInteger, isRecord, show } from './validation.js';
import { checkQueueName } from './worker-options.js';

export interface BullMQDeadLetterQueueOptions {
  /** A redis:// URL or ioredis options (opened and closed per call), or your ioredis client (left open). */
  readonly connection: BullMQWorkerConnection;
  /** The worker's queue: the dead-letter queue is `${queue}.dead` unless deadLetterQueue is set. One of the two is required. */
  readonly queue?: string;
  readonly deadLetterQueue?: string;
  /** BullMQ's key prefix. Default BullMQ's ('bull'). */
  readonly prefix?: string;
}

export interface ListBullMQDeadLettersOptions extends BullMQDeadLetterQueueOptions {
  /** Default 100. */
  readonly limit?: number;
  /** Skip this many (oldest first). Default 0. */
  readonly offset?: number;
}

export interface PurgeBullMQDeadLettersOptions extends BullMQDeadLetterQueueOptions {
  /** Dead-letter ids (= message ids) to purge. Default: every dead letter, oldest first, up to limit. */
  readonly ids?: readonly string[];
  readonly limit?: number;
  /** Count what would be purged; change nothing. */
  readonly dryRun?: boolean;
}

/** Where dead jobs wait; nothing consumes them. */
const DEAD_LETTER_STATES = ['waiting', 'prioritized', 'delayed'] as const;
const SOURCE_FIELDS = ['connection', 'queue', 'deadLetterQueue', 'prefix'];
const PAGE = 500;

export interface DeadLetterEntry {
  readonly job: Job;
  readonly data: BullMQDeadLetterData;
}

export async function listBullMQDeadLetters(options: ListBullMQDeadLettersOptions): Promise<BullMQDeadLetter[]> {
  const { limit = 100, offset = 0 } = checkOptions('bullmq dead-letter list', options, ['limit', 'offset'], (input, problems) => {
    checkOptional(input.limit, isPositiveInteger, 'must be a whole number > 0', 'limit', problems);
    checkOptional(input.offset, (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0, 'must be a whole number >= 0', 'offset', problems);
  });
  return withDeadLetterQueue(options, async (dlq) => {
    const entries = await selectDeadLetters(dlq, { limit: offset + limit });
    return entries.slice(offset).map((e) => toDeadLetter(e.job.id!, dlq.name, e.data));
  });
}

/** One dead letter by its id (= the message id), or undefined. */
export async function showBullMQDeadLetter(options: BullMQDeadLetterQueueOptions & { readonly id: string }): Promise<BullMQDeadLetter | undefined> {
  checkOptions('bullmq dead-letter show', options, ['id'], (input, problems) => {
    if (!isNonEmptyString(input.id)) problems.push({ field: 'id', message: `must be the dead letter's id (its message id), got ${show(input.id)}` });
  });
  return withDeadLetterQueue(options, async (dlq) => {
    const [entry] = await selectDeadLetters(dlq, { ids: [options.id] });
    return entry === undefined ? undefined : toDeadLetter(entry.job.id!, dlq.name, entry.data);
  });
}

/** How many jobs wait in the dead-letter queue. */
export async function countBullMQDeadLetters(options: BullMQDeadLetterQueueOptions): Promise<number> {
  checkOptions('bullmq dead-letter count', options, [], () => undefined);
  return withDeadLetterQueue(options, (dlq) => dlq.getJobCountByTypes(...DEAD_LETTER_STATES));
}

/** Deletes dead letters; returns how many (or would, with dryRun). */
export async function purgeBullMQDeadLetters(options: PurgeBullMQDeadLettersOptions): Promise<number> {
  checkOptions('bullmq dead-letter purge', options, ['ids', 'limit', 'dryRun'], checkSelection);
  return withDeadLetterQueue(options, async (dlq) => {
    const entries = await selectDeadLetters(dlq, options);
    if (options.dryRun !== true) for (const { job } of entries) await job.remove();
    return entries.length;
  });
}

/**
 * Dead letters by id (ids given: each that exists, in the order given) or the oldest ones (up to
 * limit, default all). Only postbox's own.
 */
export async function selectDeadLetters(dlq: Queue, selection: { readonly ids?: readonly string[]; readonly limit?: number }): Promise<DeadLetterEntry[]> {
  const limit = selection.limit ?? Number.MAX_SAFE_INTEGER;
  const jobs: Job[] = [];
  if (selection.ids !== undefined) {
    for (const id of selection.ids) {
      const job = (await dlq.getJob(id)) ?? (await dlq.getJob(deadLetterJobId(id)));
      if (job !== undefined && !jobs.some((j) => j.id === job.id)) jobs.push(job);
    }
  } else {
    // Paged by the count, not by a short page: getJobs leaves out ids whose job is gone.
    const total = await dlq.getJobCountByTypes(...DEAD_LETTER_STATES);
    for (let start = 0; start < total && jobs.length < limit; start += PAGE) {
      jobs.push(...(await dlq.getJobs([...DEAD_LETTER_STATES], start, start + PAGE - 1, true)));
    }
    jobs.sort((a, b) => a.timestamp - b.timestamp);
  }
  const entries: DeadLetterEntry[] = [];
  for (const job of jobs) {
    const data: unknown = job.data;
    if (job.id !== undefined && isDeadLetterData(data)) entries.push({ job, data });
  }
  return entries.slice(0, limit);
}

/** Opens the dead-letter queue (and a client when given a URL or options), runs fn, closes what it opened. */
export async function withDeadLetterQueue<T>(
  options: BullMQDeadLetterQueueOptions,
  fn: (dlq: Queue, client: WorkerRedis['client']) => Promise<T>,
): Promise<T> {
  const redis = openWorkerRedis(options.connection, 'postbox-dead-letters', 'admin');
  const name = options.deadLetterQueue ?? deadLetterQueueName(options.queue!);
  const dlq = new Queue(name, { connection: redis.client, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) });
  dlq.on('error', () => undefined);
  try {
    return await fn(dlq, redis.client);
  } finally {
    await dlq.close().catch(() => undefined);
    await redis.close();
  }
}

/** Validates the dead-letter queue fields and `extra` (every problem at once); returns the input. */
export function checkOptions<T extends object>(
  subject: string,
  input: T,
  extra: readonly string[],
  checkExtra: (input: Record<string, unknown>, problems: Problem[]) => void,
): T {
  if (!isRecord(input)) throw new ConfigError(subject, [{ field: 'options', message: `must be an object, got ${show(input)}` }]);
  const problems: Problem[] = [];
  const known = [...SOURCE_FIELDS, ...extra];
  checkKnownFields(input as Record<string, unknown>, known, '', problems);
  checkConnection(input.connection, 'connection', problems, false);
  if (input.queue === undefined && input.deadLetterQueue === undefined) {
    problems.push({ field: 'queue', message: "is required (or deadLetterQueue): the worker's queue, whose dead letters are in `${queue}.dead`" });
  }
  if (input.queue !== undefined) checkQueueName(input.queue, 'queue', problems);
  if (input.deadLetterQueue !== undefined) checkQueueName(input.deadLetterQueue, 'deadLetterQueue', problems);
  checkOptional(input.prefix, isNonEmptyString, 'must be a non-empty string (BullMQ key prefix)', 'prefix', problems);
  checkExtra(input, problems);
  if (problems.length > 0) throw new ConfigError(subject, problems);
  return input;
}

/** ids (non-empty strings), limit and dryRun. */
export function checkSelection(input: Record<string, unknown>, problems: Problem[]): void {
  const ids = input.ids;
  if (ids !== undefined) {
    if (!Array.isArray(ids)) problems.push({ field: 'ids', message: `must be an array of dead-letter ids (message ids), got ${show(ids)}` });
    else ids.forEach((id: unknown, i) => checkOptional(id, isNonEmptyString, 'must be a non-empty string', `ids[${i}]`, problems));
  }
  checkOptional(input.limit, isPositiveInteger, 'must be a whole number > 0', 'limit', problems);
  checkOptional(input.dryRun, (v) => typeof v === 'boolean', 'must be true or false', 'dryRun', problems);
}

