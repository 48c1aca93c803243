/**
 * One record through the consumer: wait until it is due, run the composed handler, then decide.
 *
 * - 'done': the record is finished (handled, or safely copied to the retry or dead-letter topic,
 *   acknowledged by all in-sync replicas); its offset may be committed.
 * - 'hold': the record is not finished; the batch stops here and its partition is paused (not due
 *   yet, blocking retry, a copy that could not be written) or the consumer is stopping. The record
 *   is fetched again from the same offset. Nothing after it is resolved, so no offset is committed
 *   past it.
 *
 * Blocking mode keeps a failed record's attempt, history and due time in memory, keyed by
 * partition and offset: a record whose partition moved to another group member starts over there
 * at the attempt in its headers. Retry-topic mode carries them in the copy's headers.
 */
import { runHandler, type Outcome } from '../../src/consumer/outcome.js';
import type { ConsumeContext, Handler } from '../../src/consumer/types.js';
import { toError } from '../../src/errors.js';
import type { RetryPolicies } from '../../src/retry/policy.js';
import type { AttemptError } from '../../src/consumer/outcome.js';
import type { ConsumedRecord } from './client.js';
import { ConsumerMode, type KafkaConsumerEvent } from './consumer-options.js';
import type { TopicPlan } from './consumer-topics.js';
import { deadLetterTopicName, deadRecord, retryRecord, retryTopicName } from './copies.js';
import { readDelivery, type Delivery } from './delivery.js';
import type { PartitionGate } from './partition-gate.js';
import type { RecordWriter } from './record-writer.js';
import { KafkaHeader } from './wire.js';

export type Step = 'done' | 'hold';

/** A record of a blocking topic waiting for its next attempt. */
export interface BlockedRecord {
  readonly offset: string;
  readonly attempt: number;
  readonly history: AttemptError[];
  readonly firstFailedAt: Date | undefined;
  readonly dueAt: number;
  readonly previousDelayMs: number;
}

export interface RecordContext {
  readonly groupId: string;
  readonly plan: TopicPlan;
  readonly policies: RetryPolicies;
  readonly handler: Handler;
  readonly context: ConsumeContext;
  readonly writer: RecordWriter;
  readonly gate: PartitionGate;
  readonly blocked: Map<string, BlockedRecord>;
  /** Aborted when stop()'s timeout has passed: a handler still running is left behind. */
  readonly abandon: AbortSignal;
  readonly heartbeatIntervalMs: number;
  readonly emit: (event: KafkaConsumerEvent) => void;
}

/** Pause before a record whose copy could not be written is handled again (not at once: that would spin). */
export const REQUEUE_DELAY_MS = 1_000;

export async function handleRecord(
  ctx: RecordContext,
  at: { readonly topic: string; readonly partition: number },
  record: ConsumedRecord,
  heartbeat: () => Promise<void>,
): Promise<Step> {
  const role = ctx.plan.roleOf(at.topic);
  if (role === undefined) return 'done'; // not a topic of this consumer (cannot happen: the group subscribes to its own)
  const key = `${at.partition}:${at.topic}`;
  let blocked = ctx.blocked.get(key);
  if (blocked !== undefined && blocked.offset !== record.offset) {
    ctx.blocked.delete(key);
    blocked = undefined;
  }
  const delivery = readDelivery(record, { ...at, offset: record.offset }, blocked?.attempt);
  const owner = delivery.message.headers[KafkaHeader.ConsumerGroup];
  if (role.retry && owner !== undefined && owner !== ctx.groupId) return 'done'; // another group's retry copy
  const due = blocked?.dueAt ?? (role.retry ? delivery.dueAt?.getTime() : undefined);
  if (due !== undefined && due > Date.now()) {
    ctx.gate.holdFor(at.topic, at.partition, due - Date.now());
    return 'hold';
  }
  const firstFailedAt = blocked?.firstFailedAt ?? delivery.firstFailedAt;
  const outcome = await run(ctx, delivery, heartbeat, blocked?.history ?? delivery.history, firstFailedAt, blocked?.previousDelayMs);
  if (outcome === undefined) return 'hold'; // stop() gave up waiting for the handler
  if (outcome.kind === 'ack') {
    ctx.blocked.delete(key);
    return 'done';
  }
  if (ctx.context.signal.aborted) return 'hold'; // stopping: not retried, not committed; handled again after a restart
  const { id, topic, attempt } = delivery.message;
  const mode = role.retry ? ConsumerMode.RetryTopics : ctx.plan.modeOf(role.source);
  if (outcome.kind === 'retry' && mode === ConsumerMode.Blocking) {
    const now = Date.now();
    const first = firstFailedAt ?? new Date(outcome.history[0]?.at ?? now);
    ctx.blocked.set(key, { offset: record.offset, attempt: attempt + 1, history: outcome.history, firstFailedAt: first, dueAt: now + outcome.delayMs, previousDelayMs: outcome.delayMs });
    ctx.gate.holdFor(at.topic, at.partition, outcome.delayMs);
    ctx.emit({ type: 'message:retry-scheduled', id, topic, attempt, delayMs: outcome.delayMs, mode, error: outcome.error });
    return 'hold';
  }
  const [target, copy] =
    outcome.kind === 'retry'
      ? [retryTopicName(role.source), retryRecord(delivery, outcome, ctx.groupId, new Date())]
      : [deadLetterTopicName(role.source), deadRecord(delivery, outcome, ctx.groupId)];
  try {
    await ctx.writer.write(target, [copy]);
  } catch (error) {
    ctx.emit({ type: 'message:republish-failed', id, topic, error: toError(error) });
    ctx.gate.holdFor(at.topic, at.partition, REQUEUE_DELAY_MS);
    return 'hold';
  }
  ctx.blocked.delete(key);
  ctx.emit(
    outcome.kind === 'retry'
      ? { type: 'message:retry-scheduled', id, topic, attempt, delayMs: outcome.delayMs, mode, error: outcome.error }
      : { type: 'message:dead-lettered', id, topic, attempt, reason: outcome.reason, error: outcome.error },
  );
  return 'done';
}

/**
 * Runs the handler (never throws: runHandler turns errors into outcomes), heartbeating meanwhile so
 * a slow handler does not cost the partition. undefined when stop() stopped waiting for it.
 */
async function run(
  ctx: RecordContext,
  delivery: Delivery,
  heartbeat: () => Promise<void>,
  history: AttemptError[],
  firstFailedAt: Date | undefined,
  previousDelayMs: number | undefined,
): Promise<Outcome | undefined> {
  const beat = setInterval(() => void heartbeat().catch(() => undefined), ctx.heartbeatIntervalMs);
  let onAbandon: (() => void) | undefined;
  const abandoned = new Promise<undefined>((resolve) => {
    onAbandon = () => resolve(undefined);
    if (ctx.abandon.aborted) resolve(undefined);
    else ctx.abandon.addEventListener('abort', onAbandon, { once: true });
  });
  try {
    const outcome = runHandler(ctx.handler, delivery.message, ctx.context, {
      policy: ctx.policies.forTopic(delivery.message.topic),
      history,
      ...(firstFailedAt === undefined ? {} : { firstAttemptAt: firstFailedAt }),
      ...(previousDelayMs === undefined ? {} : { previousDelayMs }),
    });
    return await Promise.race([outcome, abandoned]);
  } finally {
    clearInterval(beat);
    if (onAbandon !== undefined) ctx.abandon.removeEventListener('abort', onAbandon);
  }
}
