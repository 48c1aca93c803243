/** The per-message errors the BullMQ transport reports (each says what happened and what follows). */
import { ErrorCode, NonRetryableError, PostboxError } from '../../src/errors.js';
import type { OutboxMessage } from '../../src/message.js';
import type { RedisFailure } from './classify.js';

function describe(message: OutboxMessage): string {
  return `message ${message.id} (topic ${JSON.stringify(message.topic)})`;
}

export function badJson(message: OutboxMessage, cause: unknown): NonRetryableError {
  return new NonRetryableError(
    `cannot add ${describe(message)} as a BullMQ job: its content type ${JSON.stringify(message.contentType)} says JSON but the payload ` +
      `does not parse as JSON (${cause instanceof Error ? cause.message : String(cause)}). Enqueue valid JSON, or another content type (sent as base64)`,
    { cause, code: ErrorCode.Validation },
  );
}

export function noDestination(message: OutboxMessage, problem: string): NonRetryableError {
  return new NonRetryableError(`cannot add ${describe(message)} as a BullMQ job: ${problem}`, { code: ErrorCode.Validation });
}

export function stopped(message: OutboxMessage): PostboxError {
  return new PostboxError(
    ErrorCode.Stopped,
    `adding ${describe(message)} was stopped (signal aborted or transport closed) before Redis confirmed it; the job may or may not exist`,
  );
}

export function timedOut(message: OutboxMessage, queue: string, timeoutMs: number): PostboxError {
  return new PostboxError(
    ErrorCode.PublishTimeout,
    `no reply from Redis for ${describe(message)} on queue ${JSON.stringify(queue)} within ${timeoutMs} ms (publishTimeoutMs); ` +
      `the job may or may not exist. It will be published again (a no-op if the job was added)`,
  );
}

/** The error of one message whose addBulk (or add) failed. */
export function addFailed(message: OutboxMessage, queue: string, target: string, failure: RedisFailure, cause: unknown, timeoutMs: number): Error {
  const where = `queue ${JSON.stringify(queue)} (${target})`;
  switch (failure.kind) {
    case 'timeout':
      return timedOut(message, queue, timeoutMs);
    case 'not-sent':
    case 'connection':
      return new PostboxError(
        ErrorCode.ConnectionLost,
        `${describe(message)} was not confirmed by ${where}: the Redis connection is down or dropped (${failure.reason}). ` +
          `It will be published again (a no-op if the job was added)`,
        { cause },
      );
    case 'invalid':
      return new NonRetryableError(`BullMQ refused ${describe(message)} for ${where} and retrying cannot help: ${failure.reason}`, {
        cause,
        code: ErrorCode.Validation,
      });
    case 'rejected':
      return new PostboxError(ErrorCode.Nacked, `Redis refused to add ${describe(message)} to ${where}: ${failure.reason}. It will be retried`, { cause });
  }
}
