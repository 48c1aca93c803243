import { NonRetryableError } from '../errors.js';
import { Header, type Envelope } from '../message.js';

/**
 * A producer facade's route: the wrapped client's own destination and options, as JSON, stored
 * with the message in the reserved `postbox-route` header. The transport the route names sends the
 * message exactly as the wrapped client would have; any other transport refuses it as permanent
 * (dead-lettered with the reason), since guessing a destination would deliver to the wrong place.
 */
export interface Route {
  /** The transport name the route is for: 'rabbitmq', 'kafka' or 'bullmq'. */
  readonly transport: string;
  readonly [field: string]: unknown;
}

export function encodeRoute(route: Route): string {
  return JSON.stringify(route);
}

/**
 * The route of a message for this transport, or undefined when the message has none (an
 * ordinary enqueue()). Throws NonRetryableError when the route is for another transport or
 * does not parse.
 */
export function routeOf<R extends Route>(message: Pick<Envelope, 'id' | 'headers'>, transport: string): R | undefined {
  const raw = message.headers[Header.Route];
  if (raw === undefined) return undefined;
  let route: unknown;
  try {
    route = JSON.parse(raw);
  } catch {
    throw new NonRetryableError(`message ${message.id}: its ${Header.Route} header is not JSON; it was not written by a postbox facade`);
  }
  const target = (route as Partial<Route> | null)?.transport;
  if (target !== transport) {
    throw new NonRetryableError(
      `message ${message.id} was enqueued through the ${String(target)} facade but this relay publishes to ${transport}; ` +
        `run a ${String(target)} relay for it, or replay it as a new message`,
    );
  }
  return route as R;
}

/** The message's headers as they go on the wire: without the route. */
export function wireHeaders(headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  if (headers[Header.Route] === undefined) return headers;
  const { [Header.Route]: _route, ...rest } = headers;
  return rest;
}
