/**
 * Options of the amqplib channel facade (outboxChannel(), facade.ts): types and validation that
 * reports every problem at once in one ConfigError.
 */
import type { Options } from 'amqplib';
import { ConfigError } from '../../src/errors.js';
import { OutsideTransaction } from '../../src/facade/scope.js';
import { defaultOutbox, enqueueRouted, type Outbox } from '../../src/outbox/enqueue.js';
import { compileRetryPolicies } from '../../src/retry/policy.js';
import type { RetryPolicy, RetryPolicyInput } from '../../src/retry/types.js';
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
  /** The retry policy of direct sending (outsideTransaction: 'send'). Default: postbox's default policy. */
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

const FIELDS = ['outbox', 'outsideTransaction', 'retry', 'topic', 'key'];
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
  checkOptional(options.outbox, isOutbox, 'must be an outbox from createOutbox({ schema })', 'outbox', problems);
  const modes: unknown[] = Object.values(OutsideTransaction);
  checkOptional(options.outsideTransaction, (v) => modes.includes(v), `must be ${modes.map((m) => `'${String(m)}'`).join(' or ')}`, 'outsideTransaction', problems);
  if (options.outsideTransaction === OutsideTransaction.Send && isChannel && typeof channel.waitForConfirms !== 'function') {
    problems.push({
      field: 'outsideTransaction',
      message:
        "'send' needs a confirm channel, to know that a message arrived: wrap the channel of " +
        "connection.createConfirmChannel(), or keep the default 'error'",
    });
  }
  const retryPolicy = checkRetry(options, problems);
  checkOptional(options.topic, isFunction, 'must be a function (exchange, routingKey) => topic', 'topic', problems);
  checkOptional(options.key, isFunction, 'must be a function (exchange, routingKey, content, options) => key | null', 'key', problems);
  if (problems.length > 0 || retryPolicy === undefined) throw new ConfigError(SUBJECT, problems);
  return Object.freeze({
    outbox: (options.outbox as Outbox | undefined) ?? defaultOutbox(),
    outsideTransaction: (options.outsideTransaction as OutsideTransaction | undefined) ?? OutsideTransaction.Error,
    retryPolicy,
    topic: options.topic as OutboxChannelOptions['topic'],
    key: options.key as OutboxChannelOptions['key'],
  });
}

/** An outbox made by createOutbox(): enqueueRouted() refuses any other at once (an empty call touches no database). */
function isOutbox(value: unknown): boolean {
  if (!isRecord(value)) return false;
  try {
    void enqueueRouted(value as unknown as Outbox, { query: () => Promise.reject(new Error('unused')) }, [], []);
    return true;
  } catch {
    return false;
  }
}

function checkRetry(options: Record<string, unknown>, problems: Problems): RetryPolicy | undefined {
  if (options.retry !== undefined && options.outsideTransaction !== OutsideTransaction.Send) {
    problems.push({ field: 'retry', message: "applies only to direct sending; set outsideTransaction: 'send', or remove it" });
  }
  try {
    return compileRetryPolicies(options.retry === undefined ? undefined : { default: options.retry as RetryPolicyInput }).default;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems.map((p) => ({ ...p, field: p.field.replace(/^policies\.default/, 'retry') })));
    return undefined;
  }
}
