/**
 * Options of the BullMQ producer facade (outboxQueue(), facade.ts): types and validation that
 * reports every problem at once in one ConfigError.
 */
import type { JobsOptions, Queue } from 'bullmq';
import { ConfigError, ValidationError } from '../../src/errors.js';
import { OutsideTransaction } from '../../src/facade/scope.js';
import { defaultOutbox, type Outbox } from '../../src/outbox/enqueue.js';
import { compileRetryPolicies } from '../../src/retry/policy.js';
import type { RetryPolicy, RetryPolicyInput } from '../../src/retry/types.js';
import { topicProblem } from '../../src/topic.js';
import { prefixOf } from './job-route.js';
import { isQueue } from './options.js';
import { checkKnownFields, checkOptional, isFunction, isRecord, show, type Problems } from './validation.js';

export interface OutboxQueueOptions {
  /** The outbox the jobs are written to (its schema). Default: the default outbox (schema `postbox`). */
  readonly outbox?: Outbox;
  /**
   * Called outside any transaction: 'error' (default) rejects with NoTransactionError and writes
   * nothing; 'send' adds through the wrapped queue at once (no outbox), retrying under `retry`.
   */
  readonly outsideTransaction?: OutsideTransaction;
  /** The retry policy of direct sending (outsideTransaction: 'send'). Default: postbox's default policy. */
  readonly retry?: RetryPolicyInput;
  /**
   * The postbox topic of a job: the relay's retry policies, dead letters and status go by it.
   * Default: the queue name (which must then be a valid topic).
   */
  readonly topic?: (queueName: string, jobName: string) => string;
  /**
   * The ordering key of a job: jobs with the same key are added to the queue in commit order.
   * Default: none (no order; jobs are added in parallel).
   */
  readonly key?: (jobName: string, data: unknown, opts: JobsOptions | undefined) => string | null | undefined;
}

export interface ResolvedFacadeOptions {
  readonly outbox: Outbox;
  readonly outsideTransaction: OutsideTransaction;
  readonly retryPolicy: RetryPolicy;
  readonly topic: (queueName: string, jobName: string) => string;
  readonly key: OutboxQueueOptions['key'];
  readonly queueName: string;
  readonly prefix: string;
  /** How calls are named in errors: outboxQueue("orders"). */
  readonly label: string;
}

const FIELDS = ['outbox', 'outsideTransaction', 'retry', 'topic', 'key'];
const SUBJECT = 'outboxQueue options';

/**
 * Checks the wrapped queue and the options; throws ConfigError listing every problem, or a
 * ValidationError when no `topic` is given and the queue name is not a valid postbox topic.
 */
export function resolveFacadeOptions(queue: unknown, input: unknown): ResolvedFacadeOptions {
  const problems: Problems = [];
  if (!isQueue(queue) || typeof (queue as Partial<Queue>).add !== 'function') {
    problems.push({ field: 'queue', message: `must be a BullMQ Queue (new Queue(name, { connection })), got ${show(queue)}` });
  }
  const options = input ?? {};
  if (!isRecord(options)) throw new ConfigError(SUBJECT, [...problems, { field: 'options', message: `must be an object, got ${show(options)}` }]);
  checkKnownFields(options, FIELDS, '', problems);
  const isOutbox = (v: unknown): boolean => isRecord(v) && typeof v.enqueue === 'function' && typeof v.schema === 'string';
  checkOptional(options.outbox, isOutbox, 'must be an outbox from createOutbox({ schema })', 'outbox', problems);
  const modes: unknown[] = Object.values(OutsideTransaction);
  checkOptional(options.outsideTransaction, (v) => modes.includes(v), `must be ${modes.map((m) => `'${String(m)}'`).join(' or ')}`, 'outsideTransaction', problems);
  const retryPolicy = checkRetry(options, problems);
  checkOptional(options.topic, isFunction, 'must be a function (queueName, jobName) => topic', 'topic', problems);
  checkOptional(options.key, isFunction, 'must be a function (jobName, data, opts) => key | null', 'key', problems);
  if (problems.length > 0 || retryPolicy === undefined) throw new ConfigError(SUBJECT, problems);

  const { name } = queue as Queue;
  const label = `outboxQueue(${JSON.stringify(name)})`;
  if (options.topic === undefined) {
    const problem = topicProblem(name);
    if (problem !== undefined) {
      throw new ValidationError(`${label}: the queue name is not a postbox topic`, [
        {
          field: 'topic',
          message:
            `is required because the queue name ${JSON.stringify(name)} cannot be the postbox topic: it ${problem}. ` +
            `Pass topic: (queueName, jobName) => "a.topic"`,
        },
      ]);
    }
  }
  return Object.freeze({
    outbox: (options.outbox as Outbox | undefined) ?? defaultOutbox(),
    outsideTransaction: (options.outsideTransaction as OutsideTransaction | undefined) ?? OutsideTransaction.Error,
    retryPolicy,
    topic: (options.topic as ResolvedFacadeOptions['topic'] | undefined) ?? ((queueName: string) => queueName),
    key: options.key as OutboxQueueOptions['key'],
    queueName: name,
    prefix: prefixOf(queue as Queue),
    label,
  });
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
