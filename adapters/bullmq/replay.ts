/**
 * Puts dead letters back on their original queues as fresh jobs: the original name, data and job
 * options (attempts and backoff, so the policy applies anew; the attempt count starts over), the
 * same job id and message id unless newIds is set (so a consumer's inbox still recognises a message
 * it had handled). The failed original is removed first, since its job id would make the add a
 * no-op; a dead letter leaves the dead-letter queue only after its job was added. When the
 * message's job is live already (waiting, delayed or active: a replay that stopped half-way, or a
 * re-publish), nothing is added and only the dead letter is removed.
 *
 * The replayed job starts a fresh error history (its attempts count from 1 again); the errors of
 * its earlier lives go into its log (attempt-log.ts), and should it die again, its dead letter
 * lists them first.
 */
import { Queue, type JobsOptions } from 'bullmq';
import { ErrorCode, PostboxError, toError } from '../../src/errors.js';
import { redactText } from '../../src/redact.js';
import { uuidv7 } from '../../src/uuid.js';
import { checkOptions, checkSelection, selectDeadLetters, withDeadLetterQueue, type BullMQDeadLetterQueueOptions, type DeadLetterEntry } from './dead-letter-admin.js';
import { earlierErrorsLine } from './attempt-log.js';
import { isPostboxJobData } from './wire.js';

export interface ReplayBullMQDeadLettersOptions extends BullMQDeadLetterQueueOptions {
  /** Dead-letter ids (= message ids). Default: every dead letter, oldest first, up to limit. */
  readonly ids?: readonly string[];
  readonly limit?: number;
  /** Report what would be replayed; change nothing. */
  readonly dryRun?: boolean;
  /** Give each replayed message a fresh id (UUIDv7): consumers' inboxes then see a new message. Default false. */
  readonly newIds?: boolean;
}

export interface BullMQReplayed {
  /** The dead letter's id. */
  readonly id: string;
  /** The message id the job carries now (the same unless newIds). */
  readonly messageId: string;
  readonly queue: string;
  /** The job id on the queue (undefined in a dry run when BullMQ is to choose it). */
  readonly jobId: string | undefined;
  /** The job was live on the queue already: only the dead letter was removed. */
  readonly alreadyQueued: boolean;
}

export interface BullMQReplayResult {
  readonly count: number;
  readonly dryRun: boolean;
  readonly replayed: readonly BullMQReplayed[];
}

const LIVE_STATES = new Set(['waiting', 'delayed', 'active', 'prioritized', 'waiting-children']);

/**
 * Stops at the first failure with a PostboxError saying how many were moved; the rest stay in the
 * dead-letter queue (run it again).
 */
export async function replayBullMQDeadLetters(options: ReplayBullMQDeadLettersOptions): Promise<BullMQReplayResult> {
  checkOptions('bullmq dead-letter replay', options, ['ids', 'limit', 'dryRun', 'newIds'], (input, problems) => {
    checkSelection(input, problems);
    if (input.newIds !== undefined && typeof input.newIds !== 'boolean') problems.push({ field: 'newIds', message: 'must be true or false' });
  });
  const dryRun = options.dryRun === true;
  return withDeadLetterQueue(options, async (dlq, client) => {
    const targets = new Map<string, Queue>();
    const target = (name: string): Queue => {
      let queue = targets.get(name);
      if (queue === undefined) {
        queue = new Queue(name, { connection: client, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) });
        queue.on('error', () => undefined);
        targets.set(name, queue);
      }
      return queue;
    };
    const replayed: BullMQReplayed[] = [];
    try {
      const entries = await selectDeadLetters(dlq, options);
      for (const entry of entries) {
        const plan = planReplay(entry, options.newIds === true);
        if (dryRun) {
          replayed.push({ ...plan.report, alreadyQueued: false });
          continue;
        }
        replayed.push(await replayOne(target(plan.report.queue), entry, plan));
      }
      return { count: replayed.length, dryRun, replayed };
    } catch (error) {
      throw new PostboxError(
        ErrorCode.ConnectionLost,
        `replay from ${JSON.stringify(dlq.name)} stopped after moving ${replayed.length} dead letter(s): ` +
          `${redactText(toError(error).message)}; the rest stay in the dead-letter queue, run it again`,
        { cause: error },
      );
    } finally {
      await Promise.all([...targets.values()].map((q) => q.close().catch(() => undefined)));
    }
  });
}

interface Plan {
  readonly report: Omit<BullMQReplayed, 'alreadyQueued'>;
  readonly data: unknown;
  readonly opts: JobsOptions;
}

function planReplay(entry: DeadLetterEntry, newIds: boolean): Plan {
  const { original } = entry.data;
  const freshId = newIds ? uuidv7() : undefined;
  const messageId = freshId ?? entry.data.messageId;
  // A job id BullMQ assigned itself (an integer) cannot be given back: BullMQ then picks a new one.
  const jobId = freshId ?? (isCustomJobId(original.jobId) ? original.jobId : undefined);
  const data = freshId !== undefined && isPostboxJobData(original.data) ? { ...original.data, id: freshId } : original.data;
  return {
    report: { id: entry.job.id!, messageId, queue: original.queue, jobId },
    data,
    opts: { ...original.opts, ...(jobId === undefined ? {} : { jobId }) },
  };
}

async function replayOne(queue: Queue, entry: DeadLetterEntry, plan: Plan): Promise<BullMQReplayed> {
  const { jobId } = plan.report;
  if (jobId !== undefined) {
    const existing = await queue.getJob(jobId);
    if (existing !== undefined) {
      const state = await existing.getState();
      if (LIVE_STATES.has(state)) {
        await entry.job.remove();
        return { ...plan.report, alreadyQueued: true };
      }
      await existing.remove(); // failed or completed: its id would make the add a no-op
    }
  }
  const added = await queue.add(entry.data.original.name, plan.data, plan.opts);
  if (added.id !== undefined && entry.data.errors.length > 0) {
    // Best effort: should this fail, a later dead letter lacks the earlier errors, nothing else.
    await queue.addJobLog(added.id, earlierErrorsLine(entry.data.errors)).catch(() => undefined);
  }
  await entry.job.remove();
  return { ...plan.report, jobId: added.id, alreadyQueued: false };
}

function isCustomJobId(id: string): boolean {
  return id.length > 0 && `${Number.parseInt(id, 10)}` !== id && !id.includes(':');
}
