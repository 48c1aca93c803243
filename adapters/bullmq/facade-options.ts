/**
 * Options of the BullMQ producer facade (outboxQueue(), facade.ts): types and validation that
 * reports every problem at once in one ConfigError.
 */
import type { JobsOptions, Queue } from 'bullmq';
import { ConfigError, ValidationError } from '../../src/errors.js';
import { OutsideTransaction } from '../../src/facade/scope.js';
import type { Outbox } from '../../src/outbox/enqueue.js';
import { checkFacadeCommon, FACADE_COMMON_FIELDS } from '../shared/facade-options.js';
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
  /** The retry policy of direct sending (outsideTransaction: 'send'), over DIRECT_SEND_POLICY (5 attempts, 100 ms doubling to 2 s). */
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

const FIELDS = [...FACADE_COMMON_FIELDS, 'topic', 'key'];
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
  const common = checkFacadeCommon(options, problems);
  checkOptional(options.topic, isFunction, 'must be a function (queueName, jobName) => topic', 'topic', problems);
  checkOptional(options.key, isFunction, 'must be a function (jobName, data, opts) => key | null', 'key', problems);
  if (problems.length > 0 || common === undefined) throw new ConfigError(SUBJECT, problems);

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
    ...common,
    topic: (options.topic as ResolvedFacadeOptions['topic'] | undefined) ?? ((queueName: string) => queueName),
    key: options.key as OutboxQueueOptions['key'],
    queueName: name,
    prefix: prefixOf(queue as Queue),
    label,
  });
}
