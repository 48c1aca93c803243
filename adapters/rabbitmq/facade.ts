/**
 * outboxChannel(): an amqplib channel whose publish() and sendToQueue() write the message to the
 * outbox in the current transaction instead of sending it. Everything else passes through to the
 * wrapped channel. The relay's RabbitMQ transport later publishes the message exactly as the
 * wrapped channel would have (exchange, routing key, content and every option, see
 * channel-route.ts), plus postbox's identity headers.
 *
 *     const channel = outboxChannel(await connection.createConfirmChannel());
 *     await withTransaction(pool, async (tx) => {
 *       await tx.query('UPDATE orders SET state = $1 WHERE id = $2', ['paid', id]);
 *       channel.publish('orders', 'orders.paid', Buffer.from(JSON.stringify({ id })), { persistent: true });
 *     });
 */
import type { Channel, Options } from 'amqplib';
import { NonRetryableError, ValidationError, toError } from '../../src/errors.js';
import { sendWithRetries } from '../../src/facade/direct.js';
import { facadeTarget, NoTransactionError, OutsideTransaction } from '../../src/facade/scope.js';
import type { Queryable } from '../../src/db/queryable.js';
import { ContentType, type MessageInput } from '../../src/message.js';
import { topicProblem } from '../../src/topic.js';
import { encodeChannelRoute } from './channel-route.js';
import { writeRouted } from './facade-writes.js';
import { resolveFacadeOptions, type OutboxChannelOptions, type ResolvedFacadeOptions } from './facade-options.js';
import { checkPublishOptions } from './publish-options.js';
import { MAX_SHORT_STRING_BYTES, show, type Problems } from './validation.js';

export type { OutboxChannelOptions };

/** amqplib's confirm callback: null once the message is written (or, sending directly, confirmed), else the error. */
export type PublishCallback = (error: any, ok?: unknown) => void;

interface FacadeMethods<C extends Channel> {
  /**
   * Writes the message to the outbox in the current transaction; resolves true once written.
   * Throws NoTransactionError outside any transaction (unless outsideTransaction: 'send'), and
   * ValidationError for bad arguments, before any SQL.
   */
  publish(exchange: string, routingKey: string, content: Buffer, options?: Options.Publish, callback?: PublishCallback): Promise<boolean>;
  /** publish('', queue, content, options, callback): the default exchange routes to the queue. */
  sendToQueue(queue: string, content: Buffer, options?: Options.Publish, callback?: PublishCallback): Promise<boolean>;
  /** The same facade, writing in `tx` (a transaction you opened) instead of the ambient one. */
  using(tx: Queryable): OutboxChannel<C>;
}

/**
 * The wrapped channel with publish() and sendToQueue() writing to the outbox. Their facade
 * signatures come first, so calls type as Promise<boolean>; the facade is still assignable
 * where the channel's own type is expected.
 */
export type OutboxChannel<C extends Channel = Channel> = FacadeMethods<C> & C;

/** Wraps an amqplib channel (or confirm channel). Throws ConfigError listing every problem with the options. */
export function outboxChannel<C extends Channel>(channel: C, options: OutboxChannelOptions = {}): OutboxChannel<C> {
  return facade(channel, resolveFacadeOptions(channel, options), undefined);
}

function facade<C extends Channel>(channel: C, config: ResolvedFacadeOptions, bound: Queryable | undefined): OutboxChannel<C> {
  function write(call: string, exchange: string, routingKey: string, content: Buffer, options: Options.Publish | undefined, callback: PublishCallback | undefined): Promise<boolean> {
    const target = facadeTarget(bound);
    if (target === undefined) {
      if (config.outsideTransaction !== OutsideTransaction.Send) throw new NoTransactionError(`channel.${call}()`);
      return report(sendDirect(channel, config, exchange, routingKey, content, options), callback, false);
    }
    const { message, route } = prepare(config, call, exchange, routingKey, content, options);
    const written = writeRouted(config.outbox, target.db, call, message, route).then(() => true);
    target.track(written);
    return report(written, callback, target.tracked);
  }

  const own: FacadeMethods<C> = {
    publish: (exchange, routingKey, content, options, callback) => write('publish', exchange, routingKey, content, options, callback),
    sendToQueue: (queue, content, options, callback) => write('sendToQueue', '', queue, content, options, callback),
    using: (tx) => {
      if (typeof (tx as Partial<Queryable> | null)?.query !== 'function') {
        throw new ValidationError('channel.using(tx)', [{ field: 'tx', message: `must be the connection of your transaction (with query(text, values)), got ${show(tx)}` }]);
      }
      return facade(channel, config, tx);
    },
  };
  return passThrough(channel, own);
}

/**
 * The message's outbox row: content as the payload (bytes), the topic and key the options
 * derive, and the envelope fields that hold in the outbox; the route keeps every option as given.
 * Throws ValidationError naming each bad argument.
 */
function prepare(
  config: ResolvedFacadeOptions,
  call: string,
  exchange: unknown,
  routingKey: unknown,
  content: unknown,
  options: Options.Publish | undefined,
): { message: MessageInput; route: string } {
  const problems: Problems = [];
  const keyField = call === 'sendToQueue' ? 'queue' : 'routingKey';
  if (call === 'publish') checkName(exchange, 'exchange', problems);
  checkName(routingKey, keyField, problems);
  if (!Buffer.isBuffer(content)) {
    problems.push({ field: 'content', message: `must be a Buffer, as amqplib requires (e.g. Buffer.from(JSON.stringify(value))), got ${show(content)}` });
  }
  const stored = checkPublishOptions(options, problems);
  if (problems.length > 0 || stored === undefined) throw new ValidationError(`channel.${call}(): invalid arguments, nothing was written`, problems);
  const [ex, rk, bytes] = [exchange as string, routingKey as string, content as Buffer];

  const topic = config.topic === undefined ? rk : config.topic(ex, rk);
  const topicIssue = topicProblem(topic);
  if (topicIssue !== undefined) {
    problems.push(
      config.topic === undefined
        ? { field: keyField, message: `cannot be the postbox topic: it ${topicIssue}. Pass outboxChannel(channel, { topic: (exchange, routingKey) => 'a.topic' })` }
        : { field: 'topic', message: `the topic option returned ${show(topic)}, which ${topicIssue}` },
    );
  }
  const key = config.key?.(ex, rk, bytes, options) ?? null;
  if (key !== null && !(typeof key === 'string' && key.length > 0 && !key.includes('\u0000') && Buffer.byteLength(key) <= MAX_KEY_BYTES)) {
    problems.push({ field: 'key', message: `the key option must return a string of 1 to ${MAX_KEY_BYTES} bytes without NUL, or null, got ${show(key)}` });
  }
  if (problems.length > 0) throw new ValidationError(`channel.${call}(): invalid arguments, nothing was written`, problems);
  return {
    message: {
      topic,
      key,
      payload: Buffer.from(bytes), // a copy now: the write goes out a tick later, and the caller may reuse its buffer
      contentType: envelopeText(stored.contentType) ?? ContentType.Bytes,
      ...optional('correlationId', envelopeText(stored.correlationId)),
      ...optional('replyTo', envelopeText(stored.replyTo)),
    },
    route: encodeChannelRoute(ex, rk, stored),
  };
}

const MAX_KEY_BYTES = 1024;

function checkName(value: unknown, field: string, problems: Problems): void {
  if (typeof value !== 'string') problems.push({ field, message: `must be a string, got ${show(value)}` });
  else if (Buffer.byteLength(value) > MAX_SHORT_STRING_BYTES) {
    problems.push({ field, message: `must be at most ${MAX_SHORT_STRING_BYTES} bytes of UTF-8 (an AMQP short string)` });
  }
}

/** A property the outbox row can hold as text (the route keeps the exact value either way). */
function envelopeText(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && !value.includes('\u0000') ? value : undefined;
}

function optional<K extends string>(name: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [name]: value } as Record<K, string>);
}

/**
 * Direct sending (outsideTransaction: 'send'): publishes through the wrapped confirm channel and
 * resolves once the broker confirmed; a nack is retried under the policy. The first attempt runs
 * now, so bad arguments or a closed channel throw at the call, as with amqplib; a channel found
 * closed on a later attempt fails at once (it never reopens).
 */
function sendDirect(
  channel: Channel,
  config: ResolvedFacadeOptions,
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: Options.Publish | undefined,
): Promise<boolean> {
  const confirmChannel = channel as Channel & { publish(e: string, r: string, c: Buffer, o: Options.Publish | undefined, cb: PublishCallback): boolean };
  const sendOnce = (): Promise<void> => {
    let settle!: (error: unknown) => void;
    const confirmed = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === null || error === undefined ? resolve() : reject(toError(error)));
    });
    confirmChannel.publish(exchange, routingKey, content, options, (error) => settle(error));
    return confirmed;
  };
  let first: Promise<void> | undefined = sendOnce();
  return sendWithRetries(() => {
    const attempt = first;
    first = undefined;
    if (attempt !== undefined) return attempt;
    try {
      return sendOnce();
    } catch (error) {
      return Promise.reject(
        new NonRetryableError(`channel.publish() could not send (${toError(error).message}); the wrapped channel is closed, open a new one`, { cause: error }),
      );
    }
  }, config.retryPolicy).then(() => true);
}

/**
 * Calls the callback with the outcome, and marks the promise handled when the outcome reaches
 * someone anyway (the callback, or the ambient transaction, which fails with the error), so a
 * call that is not awaited does not also crash the process with an unhandled rejection.
 */
function report(outcome: Promise<boolean>, callback: PublishCallback | undefined, tracked: boolean): Promise<boolean> {
  if (callback !== undefined) {
    outcome.then(
      () => callback(null),
      (error: unknown) => callback(error),
    );
  } else if (tracked) {
    outcome.catch(() => undefined);
  }
  return outcome;
}

/**
 * A Proxy over the channel: the facade's own methods, and every other property of the channel,
 * its methods bound to it (a method returning the channel itself, such as on(), returns the facade).
 */
function passThrough<C extends Channel>(channel: C, own: FacadeMethods<C>): OutboxChannel<C> {
  const bound = new Map<PropertyKey, { readonly original: unknown; readonly method: unknown }>();
  const proxy = new Proxy(channel, {
    get(target, property) {
      if (Object.hasOwn(own, property)) return own[property as keyof FacadeMethods<C>];
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const cached = bound.get(property);
      if (cached?.original === value) return cached.method;
      const method = (...args: unknown[]): unknown => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        return result === target ? proxy : result;
      };
      bound.set(property, { original: value, method });
      return method;
    },
  });
  return proxy as OutboxChannel<C>;
}
