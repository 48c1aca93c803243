/**
 * The retry tier queues, and the copies the consumer republishes: to a tier queue (a retry), to
 * the dead-letter queue, and back to the queue (a replay).
 *
 * A tier queue `${queue}.retry.${tierMs}` holds copies for tierMs (x-message-ttl), then the broker
 * dead-letters them through the default exchange back to the queue. Every message in a tier has
 * the same TTL, so the queue's head is always the next to expire (RabbitMQ expires from the head).
 */
import type { Channel, Message } from 'amqplib';
import type { AttemptError, Outcome } from '../../src/consumer/outcome.js';
import { trimHistory } from '../../src/consumer/outcome.js';
import { Header } from '../../src/message.js';
import type { RabbitMQConsumerEvent } from './consumer-options.js';
import { declareStep } from './declare.js';
import type { Delivery } from './delivery.js';
import type { PublishProperties } from './publish-channel.js';
import type { Topology } from './topology.js';

/** Where a delivery came from before its first retry (the retried copy arrives from the default exchange). */
export const ORIGINAL_EXCHANGE_HEADER = 'postbox-original-exchange';
export const ORIGINAL_ROUTING_KEY_HEADER = 'postbox-original-routing-key';

/** Error histories longer than this (JSON characters) keep fewer entries: AMQP headers are limited to 64 KiB. */
const MAX_HISTORY_CHARS = 16_000;

export function tierQueueName(queue: string, tierMs: number): string {
  return `${queue}.retry.${tierMs}`;
}

/** The largest tier <= delayMs, or the smallest tier when delayMs is below all of them. tiersMs ascending. */
export function chooseTier(tiersMs: readonly number[], delayMs: number): number {
  let chosen = tiersMs[0] as number;
  for (const tier of tiersMs) if (tier <= delayMs) chosen = tier;
  return chosen;
}

/**
 * Declares the dead-letter queue (durable; unless the connection's topology declares it, with the
 * user's own arguments) and the tier queues. Idempotent; run on every session.
 */
export async function declareConsumerQueues(
  channel: Channel,
  config: { readonly queue: string; readonly tiersMs: readonly number[]; readonly deadLetterQueue: string },
  topology: Topology,
): Promise<void> {
  if (!topology.queues.some((q) => q.name === config.deadLetterQueue)) {
    await declareStep(`the dead-letter queue ${JSON.stringify(config.deadLetterQueue)} (durable, no arguments)`, () =>
      channel.assertQueue(config.deadLetterQueue, { durable: true }),
    );
  }
  for (const tierMs of config.tiersMs) {
    const name = tierQueueName(config.queue, tierMs);
    await declareStep(`the retry queue ${JSON.stringify(name)} (durable, x-message-ttl ${tierMs})`, () =>
      channel.assertQueue(name, {
        durable: true,
        arguments: { 'x-message-ttl': tierMs, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': config.queue },
      }),
    );
  }
}

export interface Copy {
  readonly routingKey: string;
  readonly properties: PublishProperties;
}

type Failure = Extract<Outcome, { kind: 'retry' | 'dead' }>;

/** What to republish for a failed delivery, and the event that reports it once confirmed. */
export function planCopy(
  delivery: Delivery,
  outcome: Failure,
  config: { readonly queue: string; readonly tiersMs: readonly number[]; readonly deadLetterQueue: string },
): { copy: Copy; event: RabbitMQConsumerEvent } {
  const { id, topic, attempt } = delivery.message;
  if (outcome.kind === 'retry') {
    const tierMs = chooseTier(config.tiersMs, outcome.delayMs);
    const copy = retryCopy(delivery, outcome, tierQueueName(config.queue, tierMs));
    const { delayMs, error } = outcome;
    return { copy, event: { type: 'message:retry-scheduled', id, topic, attempt, delayMs, tierMs, error } };
  }
  const copy = deadCopy(delivery, outcome, config.deadLetterQueue);
  return { copy, event: { type: 'message:dead-lettered', id, topic, attempt, reason: outcome.reason, error: outcome.error } };
}

export function retryCopy(delivery: Delivery, outcome: Extract<Outcome, { kind: 'retry' }>, tierQueue: string): Copy {
  const headers = failureHeaders(delivery, outcome);
  headers[Header.Attempt] = String(delivery.message.attempt + 1);
  return { routingKey: tierQueue, properties: copyProperties(delivery.raw, delivery.message.id, headers) };
}

export function deadCopy(delivery: Delivery, outcome: Extract<Outcome, { kind: 'dead' }>, deadLetterQueue: string): Copy {
  const headers = failureHeaders(delivery, outcome);
  headers[Header.Attempt] = String(delivery.message.attempt);
  headers[Header.DeadReason] = outcome.reason;
  return { routingKey: deadLetterQueue, properties: copyProperties(delivery.raw, delivery.message.id, headers) };
}

/** A dead-lettered message sent back to its queue: attempt count and failure state reset, id and history kept. */
export function replayCopy(raw: Message, queue: string): Copy {
  const headers = withoutBrokerDeathHeaders(raw);
  for (const name of [Header.Attempt, Header.Error, Header.DeadReason, Header.FirstFailedAt]) delete headers[name];
  const id = typeof raw.properties.messageId === 'string' ? raw.properties.messageId : String(headers[Header.MessageId] ?? '');
  return { routingKey: queue, properties: copyProperties(raw, id, headers) };
}

function failureHeaders(delivery: Delivery, outcome: Failure): Record<string, unknown> {
  const { message, raw } = delivery;
  const headers = withoutBrokerDeathHeaders(raw);
  const last = outcome.history[outcome.history.length - 1];
  headers[Header.MessageId] = message.id;
  headers[Header.Topic] = message.topic;
  headers[Header.Error] = last?.message ?? `${outcome.error.name}: ${outcome.error.message}`.slice(0, 2_000);
  headers[Header.ErrorHistory] = historyHeader(outcome.history);
  headers[Header.FirstFailedAt] = (delivery.firstFailedAt ?? new Date(outcome.history[0]?.at ?? Date.now())).toISOString();
  headers[ORIGINAL_EXCHANGE_HEADER] = delivery.originalExchange;
  headers[ORIGINAL_ROUTING_KEY_HEADER] = delivery.originalRoutingKey;
  return headers;
}

/** The history as JSON: the first and last entries (trimHistory), fewer when it would not fit a header. */
export function historyHeader(history: readonly AttemptError[]): string {
  let keep = 20;
  let json = JSON.stringify(trimHistory(history, keep));
  while (json.length > MAX_HISTORY_CHARS && keep > 1) {
    keep = Math.floor(keep / 2);
    json = JSON.stringify(trimHistory(history, keep));
  }
  return json;
}

/** The message's headers without the x-death bookkeeping of the tier queues (postbox headers carry the history). */
function withoutBrokerDeathHeaders(raw: Message): Record<string, unknown> {
  const headers: Record<string, unknown> = { ...(raw.properties.headers ?? {}) };
  for (const name of Object.keys(headers)) {
    if (name === 'x-death' || name.startsWith('x-first-death-') || name.startsWith('x-last-death-')) delete headers[name];
  }
  return headers;
}

/**
 * The original's properties for a copy: persistent, messageId = id. Not copied: expiration (the
 * tier queue's TTL decides) and userId (the broker checks it against the connection's user).
 */
function copyProperties(raw: Message, id: string, headers: Record<string, unknown>): PublishProperties {
  const p = raw.properties;
  const defined = <T>(value: T | null | undefined): value is T => value !== undefined && value !== null;
  return {
    messageId: id,
    persistent: true,
    headers,
    ...(defined<string>(p.contentType) ? { contentType: p.contentType } : {}),
    ...(defined<string>(p.contentEncoding) ? { contentEncoding: p.contentEncoding } : {}),
    ...(defined<string>(p.correlationId) ? { correlationId: p.correlationId } : {}),
    ...(defined<string>(p.replyTo) ? { replyTo: p.replyTo } : {}),
    ...(defined<string>(p.type) ? { type: p.type } : {}),
    ...(defined<string>(p.appId) ? { appId: p.appId } : {}),
    ...(defined<number>(p.timestamp) ? { timestamp: p.timestamp } : {}),
    ...(defined<number>(p.priority) ? { priority: p.priority } : {}),
  };
}
