/**
 * What a failed kafkajs call means for postbox. kafkajs wraps the broker's answer
 * (KafkaJSProtocolError with a `type` such as MESSAGE_TOO_LARGE) in retry errors
 * (KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError) through `cause`; the innermost
 * protocol type decides:
 *
 * - missing-topic: the topic does not exist (or the client may not see it). Retrying after it
 *   is created helps, so it is transient and follows the topic's policy.
 * - record: the broker rejected the records themselves (too large, invalid, bad timestamp).
 *   Retrying the same record cannot help: permanent. In a batch, only some records may be at fault.
 * - producer-state: the idempotent producer's sequence or id is out of step with the broker (after
 *   an earlier failure, or a broker that lost its state). A fresh producer fixes it: transient.
 * - connection / timeout: the broker did not answer; the records may or may not have been written.
 * - rejected: any other refusal (not enough replicas, authorization, ...): transient.
 * - bug: a TypeError or RangeError under kafkajs, i.e. a record kafkajs cannot encode: permanent.
 */
import { redactText } from '../../src/redact.js';

export type FailureKind = 'missing-topic' | 'record' | 'producer-state' | 'connection' | 'timeout' | 'rejected' | 'bug';

export interface KafkaFailure {
  readonly kind: FailureKind;
  /** The innermost protocol error type (e.g. MESSAGE_TOO_LARGE), when there is one. */
  readonly type: string | undefined;
  /** A one-line explanation, credentials redacted. */
  readonly reason: string;
  /** True when retrying the very same record cannot succeed. */
  readonly permanent: boolean;
}

const MISSING_TOPIC = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'UNKNOWN_TOPIC_ID']);
const RECORD = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'INVALID_TIMESTAMP',
  'INVALID_TOPIC_EXCEPTION',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
]);
const PRODUCER_STATE = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'DUPLICATE_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  'INVALID_PRODUCER_ID_MAPPING',
  'PRODUCER_FENCED',
]);
const CONNECTION_NAMES = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError', 'KafkaJSBrokerNotFound', 'KafkaJSNoBrokerAvailableError']);
const BUG_NAMES = new Set(['TypeError', 'RangeError']);

interface ErrorLike {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly type?: unknown;
  readonly cause?: unknown;
}

/** The error and its causes, outermost first (at most 10, cycles cut). */
export function causeChain(error: unknown): ErrorLike[] {
  const chain: ErrorLike[] = [];
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && chain.length < 10 && !chain.includes(current as ErrorLike)) {
    chain.push(current as ErrorLike);
    current = (current as ErrorLike).cause;
  }
  return chain;
}

export function classifyKafkaError(error: unknown): KafkaFailure {
  const chain = causeChain(error);
  const innermost = chain[chain.length - 1];
  const type = [...chain].reverse().map((e) => e.type).find((t): t is string => typeof t === 'string');
  const names = chain.map((e) => (typeof e.name === 'string' ? e.name : ''));
  const reason = describe(chain);
  if (type !== undefined && MISSING_TOPIC.has(type)) return { kind: 'missing-topic', type, reason, permanent: false };
  if (type !== undefined && RECORD.has(type)) return { kind: 'record', type, reason, permanent: true };
  if (type !== undefined && PRODUCER_STATE.has(type)) return { kind: 'producer-state', type, reason, permanent: false };
  if (type === 'REQUEST_TIMED_OUT' || names.includes('KafkaJSRequestTimeoutError')) return { kind: 'timeout', type, reason, permanent: false };
  if (names.some((name) => CONNECTION_NAMES.has(name))) return { kind: 'connection', type, reason, permanent: false };
  if (innermost !== undefined && typeof innermost.name === 'string' && BUG_NAMES.has(innermost.name)) {
    return { kind: 'bug', type, reason, permanent: true };
  }
  return { kind: 'rejected', type, reason, permanent: false };
}

/** "outer message (caused by: TYPE inner message)", each distinct message once, redacted. */
function describe(chain: readonly ErrorLike[]): string {
  const parts: string[] = [];
  for (const e of chain) {
    const message = typeof e.message === 'string' ? e.message : '';
    const type = typeof e.type === 'string' ? `${e.type}: ` : '';
    const text = `${type}${message}`.trim();
    if (text !== '' && !parts.some((p) => p.endsWith(message))) parts.push(text);
  }
  const [first, ...rest] = parts;
  const text = first === undefined ? 'unknown error' : rest.length === 0 ? first : `${first} (caused by: ${rest.join('; ')})`;
  return redactText(text).slice(0, 1_000);
}
