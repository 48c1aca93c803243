/**
 * The RabbitMQ Transport: publishes outbox batches on one shared confirm channel, persistent and
 * mandatory, and reports one result per message in batch order. See publish-batch.ts for how a
 * batch settles, destinations.ts for routing and the missing-exchange check, and options.ts for
 * the options (unrouted topics go to the default exchange and name a queue). A message written
 * through outboxChannel() carries its own exchange, routing key and options (channel-route.ts).
 */
import { TransportUnavailableError, toError } from '../../src/errors.js';
import type { OutboxMessage } from '../../src/message.js';
import { redactText } from '../../src/redact.js';
import { failed, type Connectable, type PublishOptions, type PublishResult, type Transport } from '../../src/transport.js';
import { createCallsInFlight } from '../shared/calls-in-flight.js';
import { connectionFromResolved, type RabbitMQConnection } from './connection.js';
import { createExchangeVerifier, createRouter, planBatch, type BatchPlan } from './destinations.js';
import {
  resolveTransportOptions,
  type RabbitMQSharedConnectionTransportOptions,
  type RabbitMQTransportOptions,
} from './options.js';
import { NothingSentError, publishBatch } from './publish-batch.js';
import { createPublishChannel, type PublishChannel } from './publish-channel.js';
import { race } from './timing.js';
import { destinationNotFound, stopped } from './wire.js';

export interface RabbitMQTransport extends Transport, Connectable {
  readonly name: 'rabbitmq';
  /** The connection used (owned, or shared when one was passed in). */
  readonly connection: RabbitMQConnection;
}

/** close() waits at most this long (and at most publishTimeoutMs) for confirms in flight. */
const CLOSE_GRACE_MS = 5_000;

/**
 * Creates the transport. With `url` (and connection options) it owns its connection and closes it
 * in close(); with `connection` it shares one and leaves it open. Throws ConfigError listing every
 * problem with the options. Connects lazily (or in connect()).
 */
export function createRabbitMQTransport(
  options: RabbitMQTransportOptions | RabbitMQSharedConnectionTransportOptions,
): RabbitMQTransport {
  const resolved = resolveTransportOptions(options);
  const owned = resolved.connectionOptions !== undefined;
  const connection = resolved.connection ?? connectionFromResolved(resolved.connectionOptions!);
  const route = createRouter(resolved.routes);
  const verifier = createExchangeVerifier(connection);
  const unsubscribe = connection.on('connected', () => verifier.reset());
  const stopping = new AbortController();
  let channel: PublishChannel | undefined;
  let opening: Promise<PublishChannel> | undefined;
  let closing: Promise<void> | undefined;
  const calls = createCallsInFlight();

  function closedError(): TransportUnavailableError {
    return new TransportUnavailableError(
      `the rabbitmq transport was closed; nothing was published. Create a new transport to publish again`,
    );
  }

  function getChannel(): Promise<PublishChannel> {
    if (channel?.isOpen) return Promise.resolve(channel);
    opening ??= (async () => {
      try {
        const opened = createPublishChannel(await connection.createConfirmChannel());
        opened.onClose((error) => {
          if (channel === opened) channel = undefined;
          verifier.channelClosed(error);
        });
        channel = opened;
        return opened;
      } finally {
        opening = undefined;
      }
    })();
    return opening;
  }

  /** The plan's preset results, plus a failure for each message whose exchange does not exist; the others are sent. */
  async function checkDestinations(batch: readonly OutboxMessage[], plan: BatchPlan): Promise<Array<PublishResult | undefined>> {
    const { destinations, preset } = plan;
    const exchanges = new Set<string>();
    for (const destination of destinations) if (destination !== undefined) exchanges.add(destination.exchange);
    let checks;
    try {
      checks = new Map(await Promise.all([...exchanges].map(async (e) => [e, await verifier.verify(e)] as const)));
    } catch (error) {
      if (error instanceof TransportUnavailableError) throw error;
      throw new TransportUnavailableError(
        `could not check the exchanges of the batch on RabbitMQ at ${connection.target} ` +
          `(${redactText(toError(error).message)}); nothing was published`,
        { cause: error },
      );
    }
    return batch.map((message, i) => {
      const exchange = destinations[i]?.exchange;
      const check = exchange === undefined ? undefined : checks.get(exchange);
      if (check?.exists === false) return failed(destinationNotFound(message, exchange as string, connection.target, check.reason));
      return preset[i];
    });
  }

  async function prepare(
    batch: readonly OutboxMessage[],
    plan: BatchPlan,
  ): Promise<{ channel: PublishChannel; preset: Array<PublishResult | undefined> }> {
    const current = await getChannel();
    return { channel: current, preset: await checkDestinations(batch, plan) };
  }

  async function publish(batch: readonly OutboxMessage[], { signal }: PublishOptions): Promise<PublishResult[]> {
    if (closing !== undefined) throw closedError();
    if (batch.length === 0) return [];
    if (signal.aborted) return batch.map((message) => failed(stopped(message)));
    calls.begin();
    const combined = AbortSignal.any([signal, stopping.signal]);
    try {
      const plan = planBatch(batch, route, connection.user);
      // Getting the channel and checking exchanges talk to the broker: bounded, so a dead connection cannot hang publish().
      const prepared = await race(prepare(batch, plan), resolved.publishTimeoutMs, combined);
      if (prepared.kind === 'aborted') return batch.map((message) => failed(stopped(message)));
      if (prepared.kind === 'timeout') {
        throw new TransportUnavailableError(
          `RabbitMQ at ${connection.target} did not answer within ${resolved.publishTimeoutMs} ms (publishTimeoutMs) ` +
            `while opening a channel or checking exchanges; nothing was published`,
        );
      }
      return await publishBatch({
        ...prepared.value,
        batch,
        destinations: plan.destinations,
        signal: combined,
        timeoutMs: resolved.publishTimeoutMs,
      });
    } catch (error) {
      if (error instanceof NothingSentError) {
        throw new TransportUnavailableError(
          `the RabbitMQ channel to ${connection.target} closed before anything was sent; nothing was published`,
          { cause: error.cause },
        );
      }
      throw error;
    } finally {
      calls.end();
    }
  }

  return {
    name: 'rabbitmq',
    connection,
    publish,
    async connect() {
      if (closing !== undefined) throw closedError();
      await connection.connect();
      await getChannel();
    },
    close() {
      closing ??= (async () => {
        await calls.idle(Math.min(CLOSE_GRACE_MS, resolved.publishTimeoutMs));
        stopping.abort(); // what is still waiting fails with ErrorCode.Stopped
        unsubscribe();
        await opening?.catch(() => undefined);
        await channel?.close(0);
        channel = undefined;
        if (owned) await connection.close();
      })();
      return closing;
    },
  };
}
