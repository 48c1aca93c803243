/**
 * Options of the amqplib channel facade (outboxChannel(), facade.ts): types and validation that
 * reports every problem at once in one ConfigError.
 */
import type { Options } from 'amqplib';
import { ConfigError } from '../../src/errors.js';
import { OutsideTransaction } from '../../src/facade/scope.js';
import type { Outbox } from '../../src/outbox/enqueue.js';
import type { RetryPolicy, RetryPolicyInput } from '../../src/retry/types.js';
import { checkFacadeCommon, FACADE_COMMON_FIELDS } from '../shared/facade-options.js';
import { checkKnownFields, checkOptional, isFunction, isRecord, show, type Problems } from './validation.js';

export interface OutboxChannelOptions {
  /** The outbox the messages are written to (its schema). Default: the default outbox (schema `postbox`). */
  readonly outbox?: Outbox;
  /**
   * Called outside any transaction: 'error' (default) throws NoTransactionError and writes
   * nothing; 'send' publishes through the wrapped confirm channel at once (no outbox), retrying
   * nacks under `retry`.
   */
  readonly outsideTransaction?: OutsideTransaction;
  /** The retry policy of direct sending (outsideTransaction: 'send'), over DIRECT_SEND_POLICY (5 attempts, 100 ms doubling to 2 s). */
  readonly retry?: RetryPolicyInput;
  /**
   * The postbox topic of a message: the relay's retry policies and dead-letter filters match it.
   * Default: the routing key (sendToQueue: the queue name), which must then be a valid topic.
   */
  readonly topic?: (exchange: string, routingKey: string) => string;
  /**
   * The ordering key: messages with the same key are published in commit order. Default: none
   * (no order; messages go out in parallel).
   */
  readonly key?: (exchange: string, routingKey: string, content: Buffer, options: Options.Publish | undefined) => string | null | undefined;
}

export interface ResolvedFacadeOptions {
  readonly outbox: Outbox;
  readonly outsideTransaction: OutsideTransaction;
  readonly retryPolicy: RetryPolicy;
  readonly topic: OutboxChannelOptions['topic'];
  readonly key: OutboxChannelOptions['key'];
}

const FIELDS = [...FACADE_COMMON_FIELDS, 'topic', 'key'];
const SUBJECT = 'outboxChannel options';

/** Checks the wrapped channel and the options; throws ConfigError listing every problem. */
export function resolveFacadeOptions(channel: unknown, input: unknown): ResolvedFacadeOptions {
  const problems: Problems = [];
  const isChannel = isRecord(channel) && typeof channel.publish === 'function' && typeof channel.sendToQueue === 'function';
  if (!isChannel) {
    problems.push({ field: 'channel', message: `must be an amqplib channel (await connection.createConfirmChannel()), got ${show(channel)}` });
  }
  const options = input ?? {};
  if (!isRecord(options)) throw new ConfigError(SUBJECT, [...problems, { field: 'options', message: `must be an object, got ${show(options)}` }]);
  checkKnownFields(options, FIELDS, '', problems);
  const common = checkFacadeCommon(options, problems);
  if (options.outsideTransaction === OutsideTransaction.Send && isChannel && typeof channel.waitForConfirms !== 'function') {
    problems.push({
      field: 'outsideTransaction',
      message:
        "'send' needs a confirm channel, to know that a message arrived: wrap the channel of " +
        "connection.createConfirmChannel(), or keep the default 'error'",
    });
  }
  checkOptional(options.topic, isFunction, 'must be a function (exchange, routingKey) => topic', 'topic', problems);
  checkOptional(options.key, isFunction, 'must be a function (exchange, routingKey, content, options) => key | null', 'key', problems);
  if (problems.length > 0 || common === undefined) throw new ConfigError(SUBJECT, problems);
  return Object.freeze({
    ...common,
    topic: options.topic as OutboxChannelOptions['topic'],
    key: options.key as OutboxChannelOptions['key'],
  });
}
