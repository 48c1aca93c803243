/**
 * What a failed addBulk / add means for postbox. ioredis and BullMQ report failures as plain
 * errors; their name and message tell:
 *
 * - not-sent: the command was refused before it was written (the connection is not up and the
 *   offline queue is off). Nothing reached Redis.
 * - connection: the connection dropped with the command in flight (aborted, flushed, closed):
 *   it may or may not have run.
 * - timeout: no reply within the command timeout: it may or may not have run.
 * - rejected: Redis answered with an error (OOM, READONLY, LOADING, a script error...): nothing
 *   of that command ran; retrying later can help.
 * - invalid: BullMQ refused the job before sending anything (its own option checks): the same
 *   job can never be added. Only these are permanent.
 */
import { redactText } from '../../src/redact.js';

export type RedisFailureKind = 'not-sent' | 'connection' | 'timeout' | 'rejected' | 'invalid';

export interface RedisFailure {
  readonly kind: RedisFailureKind;
  /** A one-line explanation, credentials redacted. */
  readonly reason: string;
}

const NOT_SENT = /enableOfflineQueue options is false|Stream isn't writeable/i;
const TIMEOUT = /Command timed out/i;
const CONNECTION = /Connection is closed|aborted due to connection close|max retries per request|ECONNRESET|EPIPE|ECONNREFUSED|ETIMEDOUT|socket (?:hang up|closed)/i;
const CONNECTION_NAMES = new Set(['MaxRetriesPerRequestError', 'AbortError', 'ConnectionClosedError']);
/** Option checks of BullMQ's Job.validateOptions and Queue (thrown before any command is sent). */
const INVALID = /^(?:Custom Id cannot|Priority should|The size of job .* exceeds|The following options cannot be used together|Jitter should be|Deduplication id must|Debounce option)/;

export function classifyRedisError(error: unknown): RedisFailure {
  const e = error as { name?: unknown; message?: unknown; code?: unknown } | null;
  const name = typeof e?.name === 'string' ? e.name : '';
  const message = typeof e?.message === 'string' ? e.message : String(error);
  const code = typeof e?.code === 'string' ? e.code : '';
  const reason = redactText(`${message}${code !== '' && !message.includes(code) ? ` (${code})` : ''}`).slice(0, 1_000);
  if (NOT_SENT.test(message)) return { kind: 'not-sent', reason };
  if (TIMEOUT.test(message)) return { kind: 'timeout', reason };
  if (CONNECTION_NAMES.has(name) || CONNECTION.test(message) || CONNECTION.test(code)) return { kind: 'connection', reason };
  if (name === 'ReplyError') return { kind: 'rejected', reason };
  if (INVALID.test(message)) return { kind: 'invalid', reason };
  return { kind: 'rejected', reason };
}
