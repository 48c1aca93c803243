/**
 * One publish() call on a shared confirm channel, pipelined: every message is sent (pausing for
 * 'drain' when the channel's buffer is full), then every confirm is awaited. Each message settles
 * exactly once: confirmed, returned (unroutable), nacked, lost with the channel, timed out
 * (publishTimeoutMs from the start of sending), or stopped (signal aborted).
 */
import type { OutboxMessage } from '../../src/message.js';
import { PUBLISHED, failed, type PublishResult } from '../../src/transport.js';
import type { Confirmation, PublishChannel } from './publish-channel.js';
import {
  connectionLost,
  nacked,
  publishProperties,
  publishTimedOut,
  stopped,
  unencodable,
  unroutable,
  type Destination,
} from './wire.js';

export interface BatchInput {
  readonly channel: PublishChannel;
  readonly batch: readonly OutboxMessage[];
  /** Where each message goes; undefined only for a message with a preset result. */
  readonly destinations: ReadonlyArray<Destination | undefined>;
  /** Results already known before sending (e.g. destination not found); those messages are not sent. */
  readonly preset: ReadonlyArray<PublishResult | undefined>;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
}

/** Thrown when the channel was found closed before any message of the batch was sent. */
export class NothingSentError extends Error {
  constructor(cause: unknown) {
    super('the channel closed before any message of the batch was sent', { cause });
    this.name = 'NothingSentError';
  }
}

export async function publishBatch(input: BatchInput): Promise<PublishResult[]> {
  const { batch, channel, destinations, signal } = input;
  const results: Array<PublishResult | undefined> = [...input.preset];
  let unsettled = results.filter((r) => r === undefined).length;
  if (unsettled === 0) return results as PublishResult[];

  let allSettled!: () => void;
  const done = new Promise<void>((resolve) => {
    allSettled = resolve;
  });
  const settle = (i: number, result: PublishResult): void => {
    if (results[i] !== undefined) return;
    results[i] = result;
    unsettled -= 1;
    if (unsettled === 0) allSettled();
  };
  const settleRest = (make: (message: OutboxMessage) => Error): void => {
    batch.forEach((message, i) => settle(i, failed(make(message))));
  };

  const onAbort = (): void => settleRest(stopped);
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => settleRest((m) => publishTimedOut(m, input.timeoutMs)), input.timeoutMs);
  try {
    if (signal.aborted) onAbort();
    let sent = 0;
    for (const [i, message] of batch.entries()) {
      if (results[i] !== undefined) continue; // preset, or stopped / timed out while waiting for drain
      const destination = destinations[i] as Destination;
      let writable: boolean;
      try {
        writable = channel.send(
          destination.exchange,
          destination.routingKey,
          message.payload,
          publishProperties(message, destination),
          (confirmation) => settle(i, outcome(message, destination, confirmation)),
        );
        sent += 1;
      } catch (error) {
        if (channel.isOpen && !isIllegalOperation(error)) {
          settle(i, failed(unencodable(message, error)));
          continue;
        }
        if (sent === 0) throw new NothingSentError(error);
        settleRest((m) => connectionLost(m, error));
        break;
      }
      if (!writable) await Promise.race([channel.drained(), done]);
    }
    await done;
    return results as PublishResult[];
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

function outcome(message: OutboxMessage, destination: Destination, confirmation: Confirmation): PublishResult {
  switch (confirmation.kind) {
    case 'ack':
      return PUBLISHED;
    case 'returned':
      return failed(unroutable(message, destination, confirmation.replyCode, confirmation.replyText));
    case 'nack':
      return failed(nacked(message));
    case 'closed':
      return failed(connectionLost(message, confirmation.error));
  }
}

function isIllegalOperation(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'IllegalOperationError';
}
