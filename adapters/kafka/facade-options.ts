/**
 * Options of the kafkajs producer facade (facade.ts), checked at creation: one ConfigError lists
 * every problem, naming each field.
 */
import { ConfigError, type Problem } from '../../src/errors.js';
import { OutsideTransaction } from '../../src/facade/scope.js';
import type { Outbox } from '../../src/outbox/enqueue.js';
import { checkFacadeCommon, FACADE_COMMON_FIELDS } from '../shared/facade-options.js';
import type { RetryPolicy, RetryPolicyInput } from '../../src/retry/types.js';
import { checkKnownFields, isRecord, show } from './validation.js';

export interface OutboxProducerOptions {
  /** The outbox written to (its schema). Default: defaultOutbox() (schema `postbox`). */
  readonly outbox?: Outbox;
  /**
   * Called outside any transaction (none ambient, none bound with .using(tx)): 'error' (default)
   * rejects with NoTransactionError and writes nothing; 'send' sends through the wrapped
   * producer at once, retrying under `retry` (no outbox row: a crash can lose the message).
   */
  readonly outsideTransaction?: OutsideTransaction;
  /** Only with outsideTransaction 'send': the retry policy of direct sends, over DIRECT_SEND_POLICY (5 attempts, 100 ms doubling to 2 s). */
  readonly retry?: RetryPolicyInput;
  /**
   * The postbox topic of a Kafka topic (retry policies, dead letters and the relay's metrics use
   * it). Default: the Kafka topic's own name, which must then be a valid postbox topic.
   */
  readonly topic?: (kafkaTopic: string) => string;
}

export interface ResolvedFacadeOptions {
  readonly outbox: Outbox;
  readonly direct: RetryPolicy | undefined;
  readonly topic: (kafkaTopic: string) => string;
}

/** The methods the facade replaces, as kafkajs's Producer has them. */
export interface SendingProducer {
  send(record: never): Promise<unknown>;
  sendBatch(batch: never): Promise<unknown>;
}

const FIELDS = [...FACADE_COMMON_FIELDS, 'topic'];
const SUBJECT = 'kafka producer facade options';

export function resolveFacadeOptions(producer: unknown, input: unknown): ResolvedFacadeOptions {
  const problems: Problem[] = [];
  if (!isSendingProducer(producer)) {
    problems.push({ field: 'producer', message: `must be a kafkajs producer (kafka.producer()) with send() and sendBatch(), got ${show(producer)}` });
  }
  if (input !== undefined && !isRecord(input)) {
    problems.push({ field: 'options', message: `must be an object { outbox?, outsideTransaction?, retry?, topic? }, got ${show(input)}` });
    throw new ConfigError(SUBJECT, problems);
  }
  const options = (input ?? {}) as Record<string, unknown>;
  checkKnownFields(options, FIELDS, '', problems);
  const { topic } = options;
  const common = checkFacadeCommon(options, problems);
  if (topic !== undefined && typeof topic !== 'function') {
    problems.push({ field: 'topic', message: `must be a function (kafkaTopic) => postbox topic, got ${show(topic)}` });
  }
  if (problems.length > 0 || common === undefined) throw new ConfigError(SUBJECT, problems);
  return Object.freeze({
    outbox: common.outbox,
    direct: common.outsideTransaction === OutsideTransaction.Send ? common.retryPolicy : undefined,
    topic: (topic as ((kafkaTopic: string) => string) | undefined) ?? ((kafkaTopic: string) => kafkaTopic),
  });
}

function isSendingProducer(value: unknown): value is SendingProducer {
  const v = value as Partial<Record<'send' | 'sendBatch', unknown>> | null;
  return typeof v === 'object' && v !== null && typeof v.send === 'function' && typeof v.sendBatch === 'function';
}
