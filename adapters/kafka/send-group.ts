/**
 * Sends the messages of one publish() call, grouped per Kafka topic, in one produce request
 * (producer.sendBatch with one entry per topic) on a turn of the producer (producer-session.ts),
 * and settles each message exactly once within the call's deadline.
 *
 * - All acknowledged (acks = all): every message is published, except one sent to an explicit
 *   partition the response does not list (acknowledged() below).
 * - The request failed: with several topics, each topic's group is sent again alone, so that the
 *   error is the one of its own topic. A group that failed alone fails every message with the
 *   classified error (classify.ts), except: when the broker rejected records as such (too large,
 *   invalid), each message is sent again alone so that only the faulty ones fail permanently; and
 *   when kafkajs reports the topic missing but the brokers list it, the error came from stale
 *   producer metadata (kafkajs #1622) and the group is sent once more on a fresh producer.
 * - Deadline or abort first: the messages fail (PublishTimeout / Stopped). kafkajs cannot cancel a
 *   send, so it is remembered as lingering: a later send to one of its topics waits for it to
 *   settle (bounded by its own deadline), so that a late write cannot land after newer messages.
 *
 * After any failure the producer is retired, and later turns get a fresh one.
 */
import type { OutboxMessage } from '../../src/message.js';
import { PUBLISHED, failed, type PublishResult } from '../../src/transport.js';
import { classifyKafkaError, type KafkaFailure } from './classify.js';
import type { ProducerRecord, RecordMetadataLike } from './client.js';
import type { ProducerSession, Turn } from './producer-session.js';
import { race, remainingMs } from './timing.js';
import type { TopicVerifier } from './topic-check.js';
import { earlierSendPending, noProducer, partitionNotFound, publishTimedOut, sendFailed, stopped, toRecord } from './wire.js';

export interface GroupContext {
  readonly session: ProducerSession;
  readonly verifier: TopicVerifier;
  readonly lingering: LingeringSends;
  readonly target: string;
  readonly publishTimeoutMs: number;
}

export interface Group {
  readonly topic: string;
  readonly messages: readonly OutboxMessage[];
  /** The record of each message, in the same order; default: toRecord(message) (wire.ts). */
  readonly records?: readonly ProducerRecord[];
}

/** Sends per Kafka topic that outlived the publish() call that started them. */
export interface LingeringSends {
  add(topic: string, send: Promise<unknown>): void;
  /** Resolves when every lingering send to the topic has settled. */
  settled(topic: string): Promise<void>;
}

export function createLingeringSends(): LingeringSends {
  const byTopic = new Map<string, Set<Promise<unknown>>>();
  return {
    add(topic, send) {
      let set = byTopic.get(topic);
      if (set === undefined) byTopic.set(topic, (set = new Set()));
      const entry = send.catch(() => undefined);
      set.add(entry);
      void entry.then(() => {
        set.delete(entry);
        if (set.size === 0 && byTopic.get(topic) === set) byTopic.delete(topic);
      });
    },
    async settled(topic) {
      const set = byTopic.get(topic);
      if (set !== undefined) await Promise.allSettled([...set]);
    },
  };
}

type Results = PublishResult[][];

/** Results per group, in the order of `groups`, one per message in the order of its group. */
export async function sendGroups(ctx: GroupContext, groups: readonly Group[], deadline: number, signal: AbortSignal, firstTry = true): Promise<Results> {
  const fail = (make: (message: OutboxMessage, topic: string) => Error): Results =>
    groups.map((g) => g.messages.map((m) => failed(make(m, g.topic))));
  const waited = await race(Promise.all(groups.map((g) => ctx.lingering.settled(g.topic))), remainingMs(deadline), signal);
  if (waited.kind === 'aborted') return fail(stopped);
  if (waited.kind === 'timeout') return fail(earlierSendPending);

  const taking = ctx.session.turn();
  let turn: Turn;
  try {
    const taken = await race(taking, remainingMs(deadline), signal);
    if (taken.kind !== 'value') {
      void taking.then((t) => t.release(), () => undefined);
      return taken.kind === 'aborted' ? fail(stopped) : fail((m, topic) => publishTimedOut(m, topic, ctx.publishTimeoutMs));
    }
    turn = taken.value;
  } catch (error) {
    return fail((m, topic) => noProducer(m, topic, ctx.target, error));
  }
  const { producer, release } = turn;
  for (const g of groups) ctx.session.markUsed(producer, g.topic);
  const send = Promise.resolve().then(() =>
    producer.sendBatch({
      acks: -1,
      timeout: Math.max(1, remainingMs(deadline)),
      topicMessages: groups.map((g) => ({ topic: g.topic, messages: recordsOf(g) })),
    }),
  );
  let failure: KafkaFailure;
  try {
    const raced = await race(send, remainingMs(deadline), signal);
    if (raced.kind === 'value') return groups.map((g) => acknowledged(g, raced.value, ctx.target));
    for (const g of groups) ctx.lingering.add(g.topic, send);
    ctx.session.retire(producer);
    return raced.kind === 'aborted' ? fail(stopped) : fail((m, topic) => publishTimedOut(m, topic, ctx.publishTimeoutMs));
  } catch (error) {
    failure = classifyKafkaError(error);
    ctx.session.retire(producer);
  } finally {
    void send.then(release, release); // after retire(): turns waiting for this producer move to a fresh one
  }
  if (groups.length > 1) return (await Promise.all(groups.map((g) => sendGroups(ctx, [g], deadline, signal)))).flat();
  const [group] = groups as [Group];
  if (failure.kind === 'missing-topic') {
    ctx.verifier.forget(group.topic);
    // kafkajs also reports this when another topic the producer once sent to was deleted (kafkajs #1622).
    if (firstTry && ctx.session.replaceable && (await stillExists(ctx, group.topic, deadline, signal))) {
      return sendGroups(ctx, groups, deadline, signal, false);
    }
  }
  if (failure.kind === 'record' && group.messages.length > 1) {
    const records = recordsOf(group);
    const alone = await Promise.all(
      group.messages.map((m, i) => sendGroups(ctx, [{ topic: group.topic, messages: [m], records: [records[i]!] }], deadline, signal, false)),
    );
    return [alone.flat(2)];
  }
  return fail((m, topic) => sendFailed(m, topic, ctx.target, failure));
}

/**
 * The results of a group whose request succeeded. A record with an explicit partition (from the
 * producer facade) that the response does not list was not written: kafkajs leaves out, without
 * an error, records for partitions its metadata does not have (kafkajs findLeaderForPartitions).
 */
function acknowledged(group: Group, written: readonly RecordMetadataLike[], target: string): PublishResult[] {
  const records = group.records;
  if (records === undefined || !records.some((r) => r.partition !== undefined)) return group.messages.map(() => PUBLISHED);
  const partitions = new Set(written.filter((w) => w.topicName === group.topic).map((w) => w.partition));
  return group.messages.map((m, i) => {
    const partition = records[i]?.partition;
    return partition === undefined || partitions.has(partition) ? PUBLISHED : failed(partitionNotFound(m, group.topic, partition, target));
  });
}

function recordsOf(group: Group): ProducerRecord[] {
  return group.records === undefined ? group.messages.map(toRecord) : (group.records as ProducerRecord[]); // kafkajs does not modify them
}

async function stillExists(ctx: GroupContext, topic: string, deadline: number, signal: AbortSignal): Promise<boolean> {
  const checked = await race(ctx.verifier.missing([topic]), remainingMs(deadline), signal).catch(() => undefined);
  return checked?.kind === 'value' && !checked.value.has(topic);
}
