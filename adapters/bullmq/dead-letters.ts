/**
 * Dead letters of the BullMQ worker: what a dead-letter job holds, and how the processor writes it.
 *
 * A dead-letter job sits in the dead-letter queue (default `${queue}.dead`, in the same prefix) and
 * is never consumed: it stays there, inspectable, until replayed or purged. Its job id is the
 * message id, so writing it again (the worker crashed after writing it, before the original was
 * failed, and the job ran again) changes nothing. Its name is the original job's name; its data is
 * BullMQDeadLetterData: the original job (queue, id, name, data, options) and the facts of its
 * death (reason, every error with time and attempt, first and last failure time).
 */
import type { JobsOptions, Queue } from 'bullmq';
import type { AttemptError } from '../../src/consumer/outcome.js';
import { trimHistory } from '../../src/consumer/outcome.js';
import type { DeadReason } from '../../src/retry/types.js';

/** Marks job data written by postbox as a dead letter (and its format version). */
export const DEAD_LETTER_MARK = 'postboxDeadLetter';
export const DEAD_LETTER_VERSION = 1;
/** Errors kept per dead letter: the first and the last ones beyond this (trimHistory). */
const MAX_ERRORS = 100;

export function deadLetterQueueName(queue: string): string {
  return `${queue}.dead`;
}

/** The job options a replay gives the job again (attempts and backoff, so the policy applies anew). */
export type ReplayableJobOptions = Pick<
  JobsOptions,
  'attempts' | 'backoff' | 'priority' | 'lifo' | 'removeOnComplete' | 'removeOnFail' | 'keepLogs' | 'stackTraceLimit' | 'sizeLimit'
>;
const REPLAYABLE_OPTIONS = ['attempts', 'backoff', 'priority', 'lifo', 'removeOnComplete', 'removeOnFail', 'keepLogs', 'stackTraceLimit', 'sizeLimit'] as const;

export interface BullMQOriginalJob {
  readonly queue: string;
  readonly jobId: string;
  readonly name: string;
  readonly data: unknown;
  readonly opts: ReplayableJobOptions;
  /** When the job was added (ms since the epoch). */
  readonly timestamp: number;
  /** BullMQ's counters when it died: failed attempts before the last one, starts (stalled re-runs included), stalls. */
  readonly attemptsMade: number;
  readonly attemptsStarted: number;
  readonly stalledCounter: number;
}

export interface BullMQDeadLetterData {
  readonly [DEAD_LETTER_MARK]: typeof DEAD_LETTER_VERSION;
  readonly messageId: string;
  readonly topic: string;
  readonly key: string | null;
  readonly reason: DeadReason;
  /** The consumer (inbox scope) whose handler gave up. */
  readonly consumer: string;
  /** The attempt that failed last. */
  readonly attempts: number;
  /** Every failed attempt, oldest first (the first and last 50 when there were more than 100), across replays. */
  readonly errors: readonly AttemptError[];
  readonly lastError: string;
  readonly firstFailedAt: string;
  readonly lastFailedAt: string;
  readonly deadLetteredAt: string;
  readonly original: BullMQOriginalJob;
}

/** A dead letter as the helpers return it: its job id in the dead-letter queue and its data. */
export interface BullMQDeadLetter extends BullMQDeadLetterData {
  readonly id: string;
  readonly deadLetterQueue: string;
}

export function isDeadLetterData(data: unknown): data is BullMQDeadLetterData {
  if (typeof data !== 'object' || data === null) return false;
  const record = data as Record<string, unknown>;
  const original = record.original as Record<string, unknown> | undefined;
  return (
    record[DEAD_LETTER_MARK] === DEAD_LETTER_VERSION &&
    typeof record.messageId === 'string' &&
    typeof original === 'object' &&
    original !== null &&
    typeof original.queue === 'string' &&
    typeof original.jobId === 'string'
  );
}

export interface DeadJobFacts {
  readonly queue: string;
  readonly job: {
    readonly id?: string;
    readonly name: string;
    readonly data: unknown;
    readonly opts: JobsOptions;
    readonly timestamp: number;
    readonly attemptsMade: number;
    readonly attemptsStarted?: number;
    readonly stalledCounter?: number;
  };
  readonly message: { readonly id: string; readonly topic: string; readonly key: string | null };
  readonly reason: DeadReason;
  readonly consumer: string;
  readonly attempt: number;
  /** Non-empty: the last entry is the failure that killed it. */
  readonly history: readonly AttemptError[];
  readonly now: Date;
}

export function buildDeadLetter(facts: DeadJobFacts): BullMQDeadLetterData {
  const { job, history } = facts;
  const first = history[0];
  const last = history[history.length - 1];
  const opts: Record<string, unknown> = {};
  for (const name of REPLAYABLE_OPTIONS) if (job.opts[name] !== undefined) opts[name] = job.opts[name];
  return {
    [DEAD_LETTER_MARK]: DEAD_LETTER_VERSION,
    messageId: facts.message.id,
    topic: facts.message.topic,
    key: facts.message.key,
    reason: facts.reason,
    consumer: facts.consumer,
    attempts: facts.attempt,
    errors: trimHistory(history, MAX_ERRORS),
    lastError: last?.message ?? '',
    firstFailedAt: first?.at ?? facts.now.toISOString(),
    lastFailedAt: last?.at ?? facts.now.toISOString(),
    deadLetteredAt: facts.now.toISOString(),
    original: {
      queue: facts.queue,
      jobId: job.id ?? facts.message.id,
      name: job.name,
      data: job.data,
      opts: opts as ReplayableJobOptions,
      timestamp: job.timestamp,
      attemptsMade: job.attemptsMade,
      attemptsStarted: job.attemptsStarted ?? job.attemptsMade,
      stalledCounter: job.stalledCounter ?? 0,
    },
  };
}

/** The message id when BullMQ takes it as a custom job id (not an integer, no ':'), else a safe variant. */
export function deadLetterJobId(messageId: string): string {
  const integer = `${Number.parseInt(messageId, 10)}` === messageId;
  return !integer && !messageId.includes(':') && messageId.length > 0 ? messageId : `dead-${messageId.replaceAll(':', '-')}`;
}

const DEAD_LETTER_JOB_OPTIONS: JobsOptions = { attempts: 1, removeOnComplete: false, removeOnFail: false };

/**
 * Writes the dead letter under the message id and returns its job id. Already there from this
 * same job (a re-run after a crash): nothing changes. There from an earlier death of the message
 * in the same queue (it was replayed since, or published again): updated, the earlier errors kept
 * first (once each). There from another queue sharing this dead-letter queue: written as `<id>-<queue>`.
 */
export async function writeDeadLetter(deadLetterQueue: Queue, data: BullMQDeadLetterData): Promise<string> {
  const candidates = [deadLetterJobId(data.messageId), deadLetterJobId(`${data.messageId}-${data.original.queue}`)];
  for (const id of candidates) {
    const existing = await deadLetterQueue.getJob(id);
    if (existing === undefined) {
      await deadLetterQueue.add(data.original.name, data, { ...DEAD_LETTER_JOB_OPTIONS, jobId: id });
      return id;
    }
    const earlier: unknown = existing.data;
    if (!isDeadLetterData(earlier) || earlier.original.queue !== data.original.queue) continue;
    if (earlier.original.jobId === data.original.jobId && earlier.original.timestamp === data.original.timestamp) return id;
    await existing.updateData({
      ...data,
      errors: trimHistory(mergeErrors(earlier.errors, data.errors), MAX_ERRORS),
      firstFailedAt: earlier.firstFailedAt,
    });
    return id;
  }
  throw new Error(`dead-letter queue ${JSON.stringify(deadLetterQueue.name)} already holds other jobs under ${candidates.join(' and ')}`);
}

export function toDeadLetter(id: string, deadLetterQueue: string, data: BullMQDeadLetterData): BullMQDeadLetter {
  return { ...data, id, deadLetterQueue };
}

/** `later` after `earlier`, without the entries `earlier` has already (a replay carries them over). */
function mergeErrors(earlier: readonly AttemptError[], later: readonly AttemptError[]): AttemptError[] {
  const key = (e: AttemptError): string => `${e.at}|${e.attempt}|${e.message}`;
  const seen = new Set(earlier.map(key));
  return [...earlier, ...later.filter((e) => !seen.has(key(e)))];
}
