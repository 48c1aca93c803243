/**
 * One job through the postbox handler, and what BullMQ is told afterwards.
 *
 * - Success: the processor resolves; BullMQ completes the job (the ack).
 * - Failure with attempts left (the topic policy's maxAttempts and the job's own `attempts`, the
 *   smaller one counts): the error is logged on the job (attempt-log.ts) and a PostboxRetryError
 *   carrying the policy's delay is thrown; BullMQ retries natively through the 'postbox' backoff.
 * - The policy gives up (permanent error, maxAttempts, maxAgeMs) or it was the job's last BullMQ
 *   attempt: the dead letter is written first (idempotent: its id is the message id), then an
 *   UnrecoverableError moves the original to failed without a retry. A crash between the two runs
 *   the job again (stalled), which writes the same dead letter again: no duplicate.
 * - The dead letter cannot be written: the job is moved back to delayed without counting the
 *   attempt, and runs again later.
 * - The handler failed while the worker stops: the job goes back to wait, the attempt not counted.
 *
 * The message attempt is job.attemptsMade + 1: failed attempts, as BullMQ counts them. A re-run
 * after a stall (a worker died mid-job) is the same attempt again, as a redelivery is elsewhere.
 */
import { DelayedError, Queue, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { compose } from '../../src/consumer/compose.js';
import { createConsumedMessage } from '../../src/consumer/message.js';
import { attemptError, runHandler, type AttemptError, type Outcome } from '../../src/consumer/outcome.js';
import type { ConsumeContext } from '../../src/consumer/types.js';
import { toError } from '../../src/errors.js';
import type { Envelope } from '../../src/message.js';
import { DeadReason } from '../../src/retry/types.js';
import { attemptLogLine, EMPTY_ATTEMPT_LOG, readAttemptLog, type AttemptLog } from './attempt-log.js';
import { isPostboxRetryError, PostboxRetryError } from './backoff-strategy.js';
import { buildDeadLetter, deadLetterQueueName, deadLetterJobId, isDeadLetterData, writeDeadLetter } from './dead-letters.js';
import type { BullMQWorkerEvent, ResolvedProcessorOptions } from './worker-options.js';
import { fromJobData } from './wire.js';

/** How long a job whose dead letter could not be written waits before it runs again. */
export const DEAD_LETTER_RETRY_DELAY_MS = 1_000;

const DEAD_BRAND = Symbol.for('postbox.bullmq.dead-lettered');

/** Thrown once the dead letter is written: BullMQ fails the job without retrying it. */
export class DeadLetteredError extends UnrecoverableError {
  readonly [DEAD_BRAND] = true;

  constructor(message: string) {
    super(message);
    this.name = 'UnrecoverableError'; // BullMQ also checks the name (several copies of bullmq)
  }
}

export function isDeadLetteredError(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[DEAD_BRAND] === true;
}

export interface JobHandlerDeps {
  readonly client: Redis | Cluster;
  /** Aborted when the worker stops (the handlers' context.signal too). */
  readonly stopping?: AbortSignal;
}

export interface JobHandler {
  process(job: Job, token: string | undefined, signal: AbortSignal | undefined): Promise<void>;
  /** Dead-letters a job BullMQ failed for good on its own (stalled or started too often, so not retried). */
  deadLetterUnprocessed(job: Job, error: Error): Promise<void>;
  close(): Promise<void>;
}

type Failure = Extract<Outcome, { kind: 'retry' | 'dead' }>;

/** Entries of attempts before `attempt` (a line of this attempt is from a run that crashed before BullMQ counted it). */
function before(history: readonly AttemptError[], attempt: number): AttemptError[] {
  return history.filter((e) => e.attempt < attempt);
}

export function createJobHandler(config: ResolvedProcessorOptions, deps: JobHandlerDeps): JobHandler {
  const handler = compose(...config.middleware)(config.handler);
  const queues = new Map<string, Queue>();
  const never = new AbortController().signal;

  const emit = (event: BullMQWorkerEvent): void => {
    try {
      config.onEvent?.(event);
    } catch {
      // observers must not break consuming
    }
  };
  /** A Queue handle on the shared client; `prefix` undefined: BullMQ's default. */
  const queueIn = (name: string, prefix: string | undefined): Queue => {
    const key = `${prefix ?? ''}\u0000${name}`;
    let found = queues.get(key);
    if (found === undefined) {
      found = new Queue(name, { connection: deps.client, ...(prefix === undefined || prefix === '' ? {} : { prefix }) });
      found.on('error', () => undefined); // a shared client's errors reach its owner
      queues.set(key, found);
    }
    return found;
  };
  /** The job's own queue (its log), in the job's prefix. */
  const sourceOf = (job: Job): Queue => queueIn(job.queueName, job.prefix);
  const deadLetterQueueOf = (job: Job): string => config.deadLetterQueue ?? deadLetterQueueName(job.queueName);
  /** The dead-letter queue, in the configured prefix, else the job's. */
  const deadLettersOf = (job: Job): Queue => queueIn(deadLetterQueueOf(job), config.prefix ?? job.prefix);
  const consumerOf = (job: Job): string => config.consumer ?? job.queueName;

  /** The job's log; read only when it can hold something: after a failed attempt, or for a dead letter. */
  async function attemptLog(job: Job, always = false): Promise<AttemptLog> {
    if ((job.attemptsMade === 0 && !always) || job.id === undefined) return EMPTY_ATTEMPT_LOG;
    try {
      return await readAttemptLog(sourceOf(job), job.id);
    } catch (error) {
      emit({ type: 'consumer:error', error: toError(error) });
      return EMPTY_ATTEMPT_LOG;
    }
  }

  async function logAttempt(job: Job, entry: AttemptError | undefined, delayMs?: number): Promise<void> {
    if (entry === undefined) return;
    try {
      await job.log(attemptLogLine(entry, delayMs));
    } catch (error) {
      emit({ type: 'consumer:error', error: toError(error) }); // the history misses one line; the job goes on
    }
  }

  async function process(job: Job, token: string | undefined, signal: AbortSignal | undefined): Promise<void> {
    // Fetched while the worker was stopping (a fetch already under way when it paused): give it
    // back untouched rather than run a handler whose signal is already aborted.
    if (deps.stopping?.aborted === true && token !== undefined && (await job.moveToWait(token).then(() => true, () => false))) {
      throw new WaitingError();
    }
    const attempt = job.attemptsMade + 1;
    const fallback = { id: job.id ?? '', topic: job.name };
    let envelope: Envelope;
    try {
      envelope = fromJobData(job.data, fallback);
    } catch (thrown) {
      // Not even an envelope: retrying cannot help.
      const error = toError(thrown);
      const log = await attemptLog(job, true);
      const history = [...before(log.history, attempt), attemptError(error, attempt, new Date())];
      return deadLetter(job, token, { ...fallback, key: null }, { kind: 'dead', reason: DeadReason.PermanentError, error, history }, attempt, log);
    }
    const earlier = await attemptLog(job);
    const prior = before(earlier.history, attempt);
    const message = createConsumedMessage({ ...envelope, attempt });
    const stopping = deps.stopping;
    const context: ConsumeContext = Object.freeze({
      consumer: consumerOf(job),
      transport: 'bullmq',
      signal: AbortSignal.any([stopping ?? never, signal ?? never]),
    });
    const outcome = await runHandler(handler, message, context, {
      policy: config.policies.forTopic(message.topic),
      history: prior,
      ...(prior[0] === undefined ? {} : { firstAttemptAt: new Date(prior[0].at) }),
      ...(earlier.previousDelayMs === undefined ? {} : { previousDelayMs: earlier.previousDelayMs }),
    });
    if (outcome.kind === 'ack') {
      if (job.stalledCounter > 0) await removeStaleDeadLetter(job, envelope.id);
      return;
    }
    if (stopping?.aborted === true && token !== undefined) {
      const returned = await job.moveToWait(token).then(() => true, () => false);
      if (returned) {
        emit({ type: 'message:returned', id: message.id, topic: message.topic });
        throw new WaitingError();
      }
    }
    const lastBullMQAttempt = attempt >= Math.max(1, job.opts.attempts ?? 1);
    if (outcome.kind === 'retry' && !lastBullMQAttempt) {
      await logAttempt(job, outcome.history[outcome.history.length - 1], outcome.delayMs);
      emit({ type: 'message:retry-scheduled', id: message.id, topic: message.topic, attempt, delayMs: outcome.delayMs, error: outcome.error });
      throw new PostboxRetryError(outcome.error, outcome.delayMs);
    }
    const dead: Failure = outcome.kind === 'dead' ? outcome : { kind: 'dead', reason: DeadReason.MaxAttempts, error: outcome.error, history: outcome.history };
    await logAttempt(job, dead.history[dead.history.length - 1]);
    return deadLetter(job, token, envelope, dead, attempt, job.attemptsMade === 0 ? await attemptLog(job, true) : earlier);
  }

  async function deadLetter(
    job: Job,
    token: string | undefined,
    message: Pick<Envelope, 'id' | 'topic' | 'key'>,
    outcome: Extract<Outcome, { kind: 'dead' }>,
    attempt: number,
    log: AttemptLog,
  ): Promise<never> {
    const target = deadLetterQueueOf(job);
    const data = buildDeadLetter({
      queue: job.queueName,
      job,
      message,
      reason: outcome.reason,
      consumer: consumerOf(job),
      attempt,
      history: [...log.earlier, ...outcome.history],
      now: new Date(),
    });
    try {
      await writeDeadLetter(deadLettersOf(job), data);
    } catch (thrown) {
      emit({ type: 'message:dead-letter-failed', id: message.id, topic: message.topic, error: toError(thrown) });
      // Not failed without its dead letter: back to delayed, this attempt not counted. Should that
      // fail too (Redis is gone), the lock expires and the job runs again as a stalled one.
      if (token !== undefined) await job.moveToDelayed(Date.now() + DEAD_LETTER_RETRY_DELAY_MS, token).catch(() => undefined);
      throw new DelayedError();
    }
    emit({ type: 'message:dead-lettered', id: message.id, topic: message.topic, attempt, reason: outcome.reason, error: outcome.error, deadLetterQueue: target });
    throw new DeadLetteredError(`dead-lettered to ${JSON.stringify(target)} (${outcome.reason}): ${data.lastError}`);
  }

  /**
   * A job that stalled may have written its dead letter before the worker died and then succeeded
   * on the re-run: that dead letter is stale. Removed only when it is this very job's.
   */
  async function removeStaleDeadLetter(job: Job, messageId: string): Promise<void> {
    try {
      const dlq = deadLettersOf(job);
      const existing = await dlq.getJob(deadLetterJobId(messageId));
      const data: unknown = existing?.data;
      if (existing === undefined || !isDeadLetterData(data)) return;
      if (data.original.queue === job.queueName && data.original.jobId === job.id && data.original.timestamp === job.timestamp) {
        await existing.remove();
      }
    } catch (error) {
      emit({ type: 'consumer:error', error: toError(error) });
    }
  }

  async function deadLetterUnprocessed(job: Job, error: Error): Promise<void> {
    const fallback = { id: job.id ?? '', topic: job.name };
    let message: Pick<Envelope, 'id' | 'topic' | 'key'>;
    try {
      message = fromJobData(job.data, fallback);
    } catch {
      message = { ...fallback, key: null };
    }
    const attempt = job.attemptsMade;
    const log = await attemptLog(job, true);
    // A PostboxRetryError BullMQ did not retry (maxStartedAttempts) is in the log already.
    const last = isPostboxRetryError(error) ? [] : [attemptError(error, attempt, new Date())];
    const history = [...log.earlier, ...log.history, ...last];
    const target = deadLetterQueueOf(job);
    try {
      await writeDeadLetter(
        deadLettersOf(job),
        buildDeadLetter({ queue: job.queueName, job, message, reason: DeadReason.MaxAttempts, consumer: consumerOf(job), attempt, history, now: new Date() }),
      );
      emit({ type: 'message:dead-lettered', id: message.id, topic: message.topic, attempt, reason: DeadReason.MaxAttempts, error, deadLetterQueue: target });
    } catch (thrown) {
      emit({ type: 'message:dead-letter-failed', id: message.id, topic: message.topic, error: toError(thrown) });
    }
  }

  return {
    process,
    deadLetterUnprocessed,
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close().catch(() => undefined)));
      queues.clear();
    },
  };
}
