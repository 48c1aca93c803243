/**
 * Moves dead-lettered deliveries of a consumer back to its queue: each copy keeps the message id
 * and error history, with the attempt count and failure state reset. A message leaves the
 * dead-letter queue only after the broker confirmed its copy; one that could not be moved stays
 * there (requeued) and replay stops with an error saying how many were moved.
 */
import type { Channel, GetMessage } from 'amqplib';
import { ConfigError, ErrorCode, PostboxError, toError } from '../../src/errors.js';
import { redactText } from '../../src/redact.js';
import { createRabbitMQConnection, type RabbitMQConnection } from './connection.js';
import { checkSource } from './consumer-options.js';
import { replayCopy } from './copies.js';
import { createPublishChannel, publishConfirmed } from './publish-channel.js';
import { CHANNEL_CLOSE_TIMEOUT_MS, settleWithin } from './timing.js';
import type { RabbitMQUrl } from './url.js';
import { checkKnownFields, checkName, checkOptional, isPositiveInteger, isRecord, show, type Problems } from './validation.js';

export interface ReplayDeadLettersOptions {
  /** Exactly one of connection and url. */
  readonly connection?: RabbitMQConnection;
  readonly url?: RabbitMQUrl;
  /** The consumer's queue: where the messages go back to. */
  readonly queue: string;
  /** Default `${queue}.dead`. */
  readonly deadLetterQueue?: string;
  /** At most this many. Default: every message in the dead-letter queue when replay starts. */
  readonly limit?: number;
}

/** Messages fetched, republished and confirmed together. */
const CHUNK = 100;
const CONFIRM_TIMEOUT_MS = 10_000;

/** Returns how many messages were moved back to the queue. */
export async function replayConsumerDeadLetters(options: ReplayDeadLettersOptions): Promise<number> {
  const { queue, deadLetterQueue, limit } = resolveReplayOptions(options);
  const connection = options.connection ?? createRabbitMQConnection({ url: options.url!, connectionName: 'postbox replay' });
  try {
    const channel = await connection.createChannel();
    const publisher = createPublishChannel(await connection.createConfirmChannel().catch(async (error: unknown) => {
      await settleWithin(channel.close(), CHANNEL_CLOSE_TIMEOUT_MS);
      throw error;
    }));
    try {
      await mustExist(channel, queue, connection.target);
      const { messageCount } = await channel.checkQueue(deadLetterQueue);
      const max = Math.min(limit ?? Number.POSITIVE_INFINITY, messageCount);
      let moved = 0;
      while (moved < max) {
        const chunk = await take(channel, deadLetterQueue, Math.min(CHUNK, max - moved));
        if (chunk.length === 0) break;
        const outcomes = await Promise.allSettled(
          chunk.map((raw) => {
            const copy = replayCopy(raw, queue);
            return publishConfirmed(publisher, '', copy.routingKey, raw.content, copy.properties, CONFIRM_TIMEOUT_MS);
          }),
        );
        let failure: unknown;
        outcomes.forEach((outcome, i) => {
          const raw = chunk[i] as GetMessage;
          if (outcome.status === 'fulfilled') {
            channel.ack(raw);
            moved += 1;
          } else {
            channel.nack(raw, false, true);
            failure ??= outcome.reason;
          }
        });
        if (failure !== undefined) {
          throw new PostboxError(
            ErrorCode.ConnectionLost,
            `replay from ${JSON.stringify(deadLetterQueue)} to ${JSON.stringify(queue)} stopped after moving ${moved} ` +
              `message(s): ${redactText(toError(failure).message)}; the rest stay in the dead-letter queue, run it again`,
            { cause: failure },
          );
        }
      }
      return moved;
    } finally {
      await publisher.close(CONFIRM_TIMEOUT_MS);
      await settleWithin(channel.close(), CHANNEL_CLOSE_TIMEOUT_MS);
    }
  } finally {
    if (options.connection === undefined) await connection.close();
  }
}

async function take(channel: Channel, queue: string, count: number): Promise<GetMessage[]> {
  const messages: GetMessage[] = [];
  while (messages.length < count) {
    const message = await channel.get(queue, { noAck: false });
    if (message === false) break;
    messages.push(message);
  }
  return messages;
}

async function mustExist(channel: Channel, queue: string, target: string): Promise<void> {
  try {
    await channel.checkQueue(queue);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 404) throw error;
    throw new PostboxError(
      ErrorCode.DestinationNotFound,
      `queue ${JSON.stringify(queue)} does not exist on RabbitMQ at ${target}; nothing was replayed. Declare the queue first`,
      { cause: error },
    );
  }
}

function resolveReplayOptions(input: unknown): { queue: string; deadLetterQueue: string; limit: number | undefined } {
  if (!isRecord(input)) {
    throw new ConfigError('rabbitmq replay options', [{ field: 'options', message: `must be an object, got ${show(input)}` }]);
  }
  const problems: Problems = [];
  checkKnownFields(input, ['connection', 'url', 'queue', 'deadLetterQueue', 'limit'], '', problems);
  checkSource(input, problems);
  checkName(input.queue, 'queue', 'queue', problems);
  const deadLetterQueue = input.deadLetterQueue ?? `${String(input.queue)}.dead`;
  checkName(deadLetterQueue, 'dead-letter queue', 'deadLetterQueue', problems);
  checkOptional(input.limit, isPositiveInteger, 'must be a whole number > 0', 'limit', problems);
  if (problems.length > 0) throw new ConfigError('rabbitmq replay options', problems);
  return { queue: input.queue as string, deadLetterQueue: deadLetterQueue as string, limit: input.limit as number | undefined };
}
