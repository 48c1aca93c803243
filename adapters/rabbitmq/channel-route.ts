/**
 * The route of a message written through outboxChannel(): the exchange, routing key and publish
 * options the wrapped amqplib channel was called with. Stored as JSON in the reserved
 * postbox-route header (src/facade/route.ts); the RabbitMQ transport publishes such a message with
 * exactly these, plus postbox's identity headers, instead of routing it by topic.
 */
import { NonRetryableError } from '../../src/errors.js';
import { encodeRoute, routeOf } from '../../src/facade/route.js';
import type { Envelope } from '../../src/message.js';
import type { StoredPublishOptions } from './publish-options.js';

// A type alias, not an interface: it must fit Route's index signature.
export type ChannelRoute = {
  readonly transport: 'rabbitmq';
  /** '' for sendToQueue (the default exchange, the routing key names the queue). */
  readonly exchange: string;
  readonly routingKey: string;
  /** The publish options as given (known fields only), handed back to amqplib unchanged. */
  readonly options: StoredPublishOptions;
};

export function encodeChannelRoute(exchange: string, routingKey: string, options: StoredPublishOptions): string {
  const route: ChannelRoute = { transport: 'rabbitmq', exchange, routingKey, options };
  return encodeRoute(route);
}

/**
 * The message's channel route, or undefined for a message without a route (an ordinary
 * enqueue(); no parsing then). Throws NonRetryableError for a route of another transport or one
 * that is not a channel route.
 */
export function channelRouteOf(message: Pick<Envelope, 'id' | 'headers'>): ChannelRoute | undefined {
  const route = routeOf<ChannelRoute>(message, 'rabbitmq');
  if (route === undefined) return undefined;
  const { exchange, routingKey, options } = route as Partial<Record<keyof ChannelRoute, unknown>>;
  if (typeof exchange !== 'string' || typeof routingKey !== 'string' || typeof options !== 'object' || options === null) {
    throw new NonRetryableError(
      `message ${message.id}: its rabbitmq route lacks an exchange, routing key or options; it was not written by ` +
        `outboxChannel(). Replay it as a new message without the route`,
    );
  }
  return route;
}
