/**
 * The RabbitMQ consumer: runs the composed handler for each delivery and acknowledges only after
 * it succeeded. A failed delivery follows its topic's policy: a copy goes to a TTL tier queue that
 * dead-letters it back to the queue later (attempt + 1), or to the dead-letter queue with its error
 * history; the original is acknowledged only once the broker confirmed the copy. When the copy
 * cannot be published, the original is not acknowledged: it is requeued after a pause (or
 * redelivered when the channel closes), and the inbox removes any duplicate.
 *
 * A handler error never escapes (runHandler turns it into an outcome). After a lost connection or
 * channel the consumer declares its retry and dead-letter queues again and consumes again.
 * While stopping, a delivery whose handler failed is left unacknowledged: closing the channel
 * returns it to the queue without counting an attempt.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { compose } from '../../src/consumer/compose.js';
import { runHandler } from '../../src/consumer/outcome.js';
import type { ConsumeContext } from '../../src/consumer/types.js';
import { ErrorCode, PostboxError, errorCode, toError } from '../../src/errors.js';
import { reconnectDelayMs } from './backoff.js';
import { createRabbitMQConnection, type RabbitMQConnection } from './connection.js';
import { resolveConsumerOptions, type RabbitMQConsumerEvent, type RabbitMQConsumerOptions } from './consumer-options.js';
import { declareConsumerQueues, planCopy } from './copies.js';
import { readDelivery } from './delivery.js';
import { createPublishChannel, publishConfirmed, type PublishChannel } from './publish-channel.js';
import { CHANNEL_CLOSE_TIMEOUT_MS, pause, settleWithin } from './timing.js';

export interface RabbitMQConsumer {
  /** Checks the queue, declares the retry and dead-letter queues and starts consuming. */
  start(): Promise<void>;
  /** Stops consuming, waits for running handlers (at most timeoutMs, default 10 s) and closes. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

const REPUBLISH_TIMEOUT_MS = 10_000;
/** Pause before requeueing a delivery whose retry or dead-letter copy could not be published. */
const REQUEUE_DELAY_MS = 1_000;
const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const RESUME_BACKOFF = { initialMs: 100, maxMs: 10_000 } as const;

interface Session {
  readonly channel: Channel;
  readonly publisher: PublishChannel;
  consumerTag: string | undefined;
  lost: boolean;
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export function createRabbitMQConsumer(options: RabbitMQConsumerOptions): RabbitMQConsumer {
  const config = resolveConsumerOptions(options);
  const owned = config.connection === undefined;
  const connection: RabbitMQConnection =
    config.connection ?? createRabbitMQConnection({ url: config.url!, connectionName: `postbox consumer ${config.consumer}` });
  const handler = compose(...config.middleware)(config.handler);
  const stopping = new AbortController();
  const context: ConsumeContext = Object.freeze({ consumer: config.consumer, transport: 'rabbitmq', signal: stopping.signal });
  const inFlight = new Set<Promise<void>>();
  let state: State = 'new';
  let session: Session | undefined;
  let opening: Promise<void> | undefined;
  let resumeTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let unsubscribe: (() => void) | undefined;
  let starting: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;

  const emit = (event: RabbitMQConsumerEvent): void => {
    try {
      config.onEvent?.(event);
    } catch {
      // observers must not break consuming
    }
  };

  async function openSession(): Promise<void> {
    const channel = await connection.createChannel();
    let publisher: PublishChannel | undefined;
    let current: Session | undefined;
    try {
      await channel.prefetch(config.prefetch);
      await checkQueue(channel);
      await declareConsumerQueues(channel, config, connection.topology);
      publisher = createPublishChannel(await connection.createConfirmChannel());
      const opened: Session = { channel, publisher, consumerTag: undefined, lost: false };
      current = opened;
      let closedWith: Error | undefined;
      channel.on('error', (error: Error) => {
        closedWith = error;
      });
      channel.on('close', () => sessionLost(opened, closedWith));
      publisher.onClose((error) => sessionLost(opened, error));
      const { consumerTag } = await channel.consume(config.queue, (raw) => onDelivery(opened, raw), { noAck: false });
      opened.consumerTag = consumerTag;
      session = opened;
    } catch (error) {
      if (current !== undefined) current.lost = true; // never became the session: nothing to resume
      await publisher?.close(0);
      await settleWithin(channel.close(), CHANNEL_CLOSE_TIMEOUT_MS);
      throw error;
    }
  }

  async function checkQueue(channel: Channel): Promise<void> {
    try {
      await channel.checkQueue(config.queue);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 404) throw error;
      throw new PostboxError(
        ErrorCode.DestinationNotFound,
        `queue ${JSON.stringify(config.queue)} does not exist on RabbitMQ at ${connection.target}; declare it in the ` +
          `connection's topology.queues (or create it) before starting the consumer`,
        { cause: error },
      );
    }
  }

  function sessionLost(current: Session, error: Error | undefined): void {
    if (current.lost) return;
    current.lost = true;
    if (session === current) session = undefined;
    void current.channel.close().catch(ignore); // the other channel of the pair, so unacked deliveries are requeued
    void current.publisher.close(0);
    if (state !== 'running') return;
    emit({ type: 'consumer:channel-lost', error });
    scheduleResume();
  }

  function scheduleResume(): void {
    if (state !== 'running' || session !== undefined || opening !== undefined || resumeTimer !== undefined) return;
    resumeTimer = setTimeout(() => {
      resumeTimer = undefined;
      resume();
    }, failures === 0 ? 0 : reconnectDelayMs(RESUME_BACKOFF, failures));
  }

  function resume(): void {
    if (state !== 'running' || session !== undefined || opening !== undefined) return;
    if (resumeTimer !== undefined) clearTimeout(resumeTimer);
    resumeTimer = undefined;
    opening = openSession()
      .then(
        () => {
          failures = 0;
          emit({ type: 'consumer:resumed' });
        },
        (error: unknown) => {
          failures += 1;
          emit({ type: 'consumer:resume-failed', error: toError(error) });
        },
      )
      .finally(() => {
        opening = undefined;
        scheduleResume();
      });
  }

  function onDelivery(current: Session, raw: ConsumeMessage | null): void {
    if (raw === null) {
      // The broker cancelled the consumer (the queue was deleted): start over, which checks the queue.
      void current.channel.close().catch(ignore);
      return;
    }
    if (state !== 'running' && state !== 'starting') return; // stopping: stays unacked, requeued on close
    const task = handle(current, raw).catch(async (error: unknown) => {
      emit({ type: 'consumer:error', error: toError(error) });
      await requeueLater(current, raw);
    });
    inFlight.add(task);
    void task.finally(() => inFlight.delete(task));
  }

  async function handle(current: Session, raw: ConsumeMessage): Promise<void> {
    const delivery = readDelivery(raw);
    const { message } = delivery;
    const outcome = await runHandler(handler, message, context, {
      policy: config.policies.forTopic(message.topic),
      history: delivery.history,
      firstAttemptAt: delivery.firstFailedAt,
    });
    if (outcome.kind === 'ack') return acknowledge(current, raw);
    if (stopping.signal.aborted) return;
    const { copy, event } = planCopy(delivery, outcome, config);
    try {
      await publishConfirmed(current.publisher, '', copy.routingKey, raw.content, copy.properties, REPUBLISH_TIMEOUT_MS);
    } catch (error) {
      emit({ type: 'message:republish-failed', id: message.id, topic: message.topic, error: toError(error) });
      // Returned: a retry or dead-letter queue was deleted. Declare them again before the redelivery.
      if (errorCode(error) === ErrorCode.Unroutable) await declareConsumerQueues(current.channel, config, connection.topology).catch(ignore);
      await requeueLater(current, raw);
      return;
    }
    acknowledge(current, raw);
    emit(event);
  }

  /** Returns a delivery to the queue after a pause (not at once: that would spin on a lasting failure). */
  async function requeueLater(current: Session, raw: ConsumeMessage): Promise<void> {
    await pause(REQUEUE_DELAY_MS, stopping.signal);
    if (current.lost || stopping.signal.aborted) return; // closing the channel requeues it
    try {
      current.channel.nack(raw, false, true);
    } catch {
      // the channel closed meanwhile: the broker requeues it
    }
  }

  function acknowledge(current: Session, raw: ConsumeMessage): void {
    if (current.lost) return; // the broker redelivers it; the inbox skips the duplicate
    try {
      current.channel.ack(raw);
    } catch {
      // the channel closed between the check and the ack: same as above
    }
  }

  return {
    start() {
      if (state === 'stopping' || state === 'stopped') {
        return Promise.reject(new PostboxError(ErrorCode.Stopped, 'the consumer was stopped; create a new one to consume again'));
      }
      starting ??= (async () => {
        state = 'starting';
        try {
          await openSession();
        } catch (error) {
          state = 'new';
          starting = undefined;
          throw error;
        }
        state = 'running';
        unsubscribe = connection.on('connected', () => resume());
        if (session === undefined) scheduleResume();
      })();
      return starting;
    },
    stop({ timeoutMs = DEFAULT_STOP_TIMEOUT_MS } = {}) {
      stopped ??= (async () => {
        await starting?.catch(ignore);
        state = 'stopping';
        unsubscribe?.();
        if (resumeTimer !== undefined) clearTimeout(resumeTimer);
        await opening;
        const current = session;
        session = undefined;
        if (current?.consumerTag !== undefined && !current.lost) {
          await settleWithin(current.channel.cancel(current.consumerTag), CHANNEL_CLOSE_TIMEOUT_MS);
        }
        stopping.abort();
        await settleWithin(Promise.all([...inFlight]), timeoutMs); // tasks never reject
        if (current !== undefined) {
          current.lost = true;
          await current.publisher.close(0);
          await settleWithin(current.channel.close(), CHANNEL_CLOSE_TIMEOUT_MS);
        }
        if (owned) await connection.close();
        state = 'stopped';
      })();
      return stopped;
    },
  };
}

function ignore(): void {}
