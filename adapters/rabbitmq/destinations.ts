/**
 * Where a topic is published, and whether its exchange exists.
 *
 * Publishing to a missing exchange makes RabbitMQ close the channel (404 NOT_FOUND), which would
 * fail every other message in flight on it. So an exchange is checked on a separate, throwaway
 * channel before its first use: a configured one is (re)declared, any other is checked passively.
 * Positive answers are cached until the next reconnect, or until a channel closes with 404 for that
 * exchange (someone deleted it); negative answers are not cached, so a later attempt checks again.
 */
import { isTransportUnavailableError, toError } from '../../src/errors.js';
import type { OutboxMessage } from '../../src/message.js';
import { createPatternTable } from '../../src/topic.js';
import { failed, type PublishResult } from '../../src/transport.js';
import { channelRouteOf } from './channel-route.js';
import type { RabbitMQConnection } from './connection.js';
import { declareExchange } from './declare.js';
import type { ResolvedRoute } from './options.js';
import { CHANNEL_CLOSE_TIMEOUT_MS, settleWithin } from './timing.js';
import { foreignUser, type Destination } from './wire.js';

/** The topic's route, or the default exchange with the topic as routing key (the topic names a queue). */
export function createRouter(routes: ReadonlyArray<readonly [string, ResolvedRoute]>): (topic: string) => Destination {
  const table = createPatternTable(routes);
  return (topic) => {
    const route = table.lookup(topic);
    if (route === undefined) return { exchange: '', routingKey: topic };
    return { exchange: route.exchange, routingKey: route.routingKey ?? topic };
  };
}

/** Where each message of a batch goes, and the results of those that fail before sending. */
export interface BatchPlan {
  /** undefined where the message already has its result in preset. */
  readonly destinations: ReadonlyArray<Destination | undefined>;
  readonly preset: ReadonlyArray<PublishResult | undefined>;
}

/**
 * A message written through outboxChannel() goes where its route says, with its own options; a
 * route this transport cannot use, or a userId RabbitMQ would refuse from `user` (it would close
 * the channel, failing every message in flight), fails that message alone, permanently. Any other
 * message goes where its topic is routed.
 */
export function planBatch(batch: readonly OutboxMessage[], route: (topic: string) => Destination, user: string): BatchPlan {
  const destinations: Array<Destination | undefined> = [];
  const preset: Array<PublishResult | undefined> = [];
  for (const message of batch) {
    let destination: Destination | undefined;
    let result: PublishResult | undefined;
    try {
      const channelRoute = channelRouteOf(message);
      if (channelRoute === undefined) {
        destination = route(message.topic);
      } else {
        const { exchange, routingKey, options } = channelRoute;
        const { userId } = options;
        if (typeof userId === 'string' && userId !== user) result = failed(foreignUser(message, userId, user));
        else destination = { exchange, routingKey, options };
      }
    } catch (error) {
      result = failed(toError(error));
    }
    destinations.push(destination);
    preset.push(result);
  }
  return { destinations, preset };
}

export type ExchangeCheck = { readonly exists: true } | { readonly exists: false; readonly reason: string };

export interface ExchangeVerifier {
  /**
   * Whether the exchange can be published to. Rejects with TransportUnavailableError when it could
   * not be checked (no connection).
   */
  verify(exchange: string): Promise<ExchangeCheck>;
  /** Forgets every positive answer (after a reconnect). */
  reset(): void;
  /** Reacts to a channel closed by the broker: a 404 for an exchange forgets that exchange. */
  channelClosed(error: Error | undefined): void;
}

const EXISTS: ExchangeCheck = Object.freeze({ exists: true });
const NOT_FOUND = 404;

export function createExchangeVerifier(connection: RabbitMQConnection): ExchangeVerifier {
  const declared = new Map(connection.topology.exchanges.map((e) => [e.name, e]));
  const checks = new Map<string, Promise<ExchangeCheck>>();
  /** Configured exchanges are declared on every connect, so they start out known. */
  let known = new Set<string>(declared.keys());

  async function check(exchange: string): Promise<ExchangeCheck> {
    const channel = await connection.createChannel();
    try {
      const declaration = declared.get(exchange);
      if (declaration !== undefined) await declareExchange(channel, declaration);
      else await channel.checkExchange(exchange);
      void settleWithin(channel.close(), CHANNEL_CLOSE_TIMEOUT_MS);
      return EXISTS;
    } catch (error) {
      if (isTransportUnavailableError(error)) throw error;
      // The broker closed the channel with a reply code (404 NOT_FOUND, 403 ACCESS_REFUSED, 406 ...).
      if (typeof (error as { code?: unknown }).code === 'number') {
        return { exists: false, reason: (error as Error).message };
      }
      throw error;
    }
  }

  return {
    verify(exchange) {
      if (exchange === '' || known.has(exchange)) return Promise.resolve(EXISTS);
      let pending = checks.get(exchange);
      if (pending === undefined) {
        pending = check(exchange).then(
          (result) => {
            checks.delete(exchange);
            if (result.exists) known.add(exchange);
            return result;
          },
          (error: unknown) => {
            checks.delete(exchange);
            throw error;
          },
        );
        checks.set(exchange, pending);
      }
      return pending;
    },
    reset() {
      known = new Set(declared.keys());
    },
    channelClosed(error) {
      if ((error as { code?: unknown } | undefined)?.code !== NOT_FOUND) return;
      const name = /no exchange '(.*)' in vhost/.exec(error?.message ?? '')?.[1];
      if (name !== undefined) known.delete(name);
      else known.clear();
    },
  };
}
