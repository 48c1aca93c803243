/**
 * Moves dead letters of a consumer's topic back to it: each record of `${topic}.dead` is written to
 * `topic` with its key, value, message id and error history, the attempt count and failure state
 * reset (copies.ts). Kafka cannot delete single records, so progress is a committed offset of a
 * consumer group of its own (default `postbox-replay.${topic}`): a dead letter counts as moved once
 * its copy was acknowledged (acks = all) and its offset committed; running replay again continues
 * after the last moved record. Replay reads up to the end the dead-letter topic had when it
 * started, so letters dead-lettered again meanwhile wait for the next run. Run one replay of a topic
 * at a time.
 */
import { ConfigError, ErrorCode, PostboxError, toError } from '../../src/errors.js';
import { redactText } from '../../src/redact.js';
import type { EachBatchPayloadLike, KafkaAdminLike } from './client.js';
import { BROKER_FIELDS, checkClientSource, openClient, type ClientSource, type KafkaBrokerOptions, type KafkaClientOption } from './connection.js';
import { deadLetterTopicName, replayRecord } from './copies.js';
import { createRecordWriter } from './record-writer.js';
import { race, settleWithin } from './timing.js';
import { checkKafkaTopic, checkKnownFields, checkOptional, isNonEmptyString, isPositiveInteger, isRecord, show, type Problems } from './validation.js';

export interface ReplayKafkaDeadLettersOptions extends KafkaBrokerOptions, KafkaClientOption {
  /** The consumer's (source) Kafka topic: where the dead letters go back to. */
  readonly topic: string;
  /** Default `${topic}.dead`. */
  readonly deadLetterTopic?: string;
  /** At most this many. Default: every dead letter not replayed before, up to the end when replay starts. */
  readonly limit?: number;
  /** The group whose committed offsets mark what was replayed. Default `postbox-replay.${topic}`. */
  readonly groupId?: string;
  /** Give up (keeping what was moved) after this long. Default 60 000. */
  readonly timeoutMs?: number;
}

interface ResolvedReplay {
  readonly source: ClientSource;
  readonly topic: string;
  readonly deadLetterTopic: string;
  readonly limit: number;
  readonly groupId: string;
  readonly timeoutMs: number;
}

/** Returns how many dead letters were moved back to the topic. */
export async function replayKafkaDeadLetters(options: ReplayKafkaDeadLettersOptions): Promise<number> {
  const config = resolveReplayOptions(options);
  const kafka = await openClient(config.source, Math.min(config.timeoutMs, 30_000));
  const admin = kafka.admin();
  const writer = createRecordWriter(() => Promise.resolve(kafka), Math.min(config.timeoutMs, 10_000));
  let moved = 0;
  try {
    await admin.connect();
    const pending = await pendingRanges(admin, config).finally(() => settleWithin(admin.disconnect(), 5_000));
    const total = [...pending.values()].reduce((sum, range) => sum + (range.end - range.start), 0n);
    const max = Math.min(config.limit, Number(total));
    if (max === 0) return 0;
    const open = new Set([...pending].filter(([, r]) => r.end > r.start).map(([p]) => p));
    let done = false;
    let settle!: (error?: unknown) => void;
    const finished = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(toError(error)));
    });
    const finish = (error?: unknown): void => {
      done = true;
      settle(error);
    };
    const consumer = kafka.consumer({ groupId: config.groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 200, allowAutoTopicCreation: false });
    const eachBatch = async ({ batch, resolveOffset, commitOffsetsIfNecessary }: EachBatchPayloadLike): Promise<void> => {
      const range = pending.get(batch.partition);
      if (done || range === undefined || !open.has(batch.partition)) return;
      const chosen = batch.messages.filter((m) => BigInt(m.offset) >= range.start && BigInt(m.offset) < range.end).slice(0, max - moved);
      if (chosen.length === 0) return;
      try {
        await writer.write(config.topic, chosen.map(replayRecord));
      } catch (error) {
        finish(error);
        return;
      }
      const last = chosen[chosen.length - 1]!.offset;
      resolveOffset(last);
      await commitOffsetsIfNecessary({ topics: [{ topic: config.deadLetterTopic, partitions: [{ partition: batch.partition, offset: (BigInt(last) + 1n).toString() }] }] });
      moved += chosen.length;
      if (BigInt(last) + 1n >= range.end) open.delete(batch.partition);
      if (open.size === 0 || moved >= max) finish();
    };
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [config.deadLetterTopic], fromBeginning: true });
      await consumer.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch });
      const outcome = await race(finished, config.timeoutMs);
      if (outcome.kind !== 'value') throw new Error(`it did not finish within ${config.timeoutMs} ms (timeoutMs)`);
    } finally {
      await settleWithin(consumer.disconnect(), 15_000);
    }
    return moved;
  } catch (error) {
    if (error instanceof PostboxError && error.code === ErrorCode.DestinationNotFound && moved === 0) throw error;
    throw new PostboxError(
      ErrorCode.ConnectionLost,
      `replay from ${JSON.stringify(config.deadLetterTopic)} to ${JSON.stringify(config.topic)} stopped after moving ${moved} ` +
        `message(s): ${redactText(toError(error).message)}; the rest stay in the dead-letter topic, run it again`,
      { cause: error },
    );
  } finally {
    await writer.close();
  }
}

/** Per partition of the dead-letter topic: from the group's committed offset (or the start) to the current end. */
async function pendingRanges(admin: KafkaAdminLike, config: ResolvedReplay): Promise<Map<number, { start: bigint; end: bigint }>> {
  const existing = new Set(await admin.listTopics());
  const missing = [config.topic, config.deadLetterTopic].filter((t) => !existing.has(t));
  if (missing.length > 0) {
    throw new PostboxError(ErrorCode.DestinationNotFound, `Kafka topic(s) ${missing.map((t) => JSON.stringify(t)).join(', ')} do not exist; nothing was replayed`);
  }
  const offsets = await admin.fetchTopicOffsets(config.deadLetterTopic);
  const [committed] = await admin.fetchOffsets({ groupId: config.groupId, topics: [config.deadLetterTopic] });
  const ranges = new Map<number, { start: bigint; end: bigint }>();
  for (const { partition, low, high } of offsets) {
    const done = committed?.partitions.find((p) => p.partition === partition)?.offset;
    const from = done !== undefined && /^\d+$/.test(done) ? BigInt(done) : 0n;
    ranges.set(partition, { start: from > BigInt(low) ? from : BigInt(low), end: BigInt(high) });
  }
  return ranges;
}

function resolveReplayOptions(input: unknown): ResolvedReplay {
  if (!isRecord(input)) throw new ConfigError('kafka replay options', [{ field: 'options', message: `must be an object, got ${show(input)}` }]);
  const problems: Problems = [];
  checkKnownFields(input, [...BROKER_FIELDS, 'kafka', 'topic', 'deadLetterTopic', 'limit', 'groupId', 'timeoutMs'], '', problems);
  const source = checkClientSource(input, problems);
  const topicOk = checkKafkaTopic(input.topic, 'topic', problems);
  const deadLetterTopic = input.deadLetterTopic ?? (topicOk ? deadLetterTopicName(input.topic as string) : undefined);
  if (input.deadLetterTopic !== undefined || topicOk) checkKafkaTopic(deadLetterTopic, 'deadLetterTopic', problems);
  checkOptional(input.limit, isPositiveInteger, 'must be a whole number > 0', 'limit', problems);
  checkOptional(input.groupId, isNonEmptyString, 'must be a non-empty string', 'groupId', problems);
  checkOptional(input.timeoutMs, isPositiveInteger, 'must be a whole number of milliseconds > 0', 'timeoutMs', problems);
  if (problems.length > 0 || source === undefined) throw new ConfigError('kafka replay options', problems);
  return {
    source,
    topic: input.topic as string,
    deadLetterTopic: deadLetterTopic as string,
    limit: (input.limit as number | undefined) ?? Number.MAX_SAFE_INTEGER,
    groupId: (input.groupId as string | undefined) ?? `postbox-replay.${input.topic as string}`,
    timeoutMs: (input.timeoutMs as number | undefined) ?? 60_000,
  };
}
