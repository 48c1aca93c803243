/**
 * A confirm channel with per-message outcomes: ack, nack, returned (basic.return before the ack,
 * matched by the postbox-message-id header, else the messageId property: the broker sends a
 * message's return before its ack on the same channel) or lost because the channel closed.
 * Shared by concurrent publishers: each send() carries its own callback.
 */
import type { ConfirmChannel, Message, Options } from 'amqplib';
import { ErrorCode, PostboxError } from '../../src/errors.js';
import { Header } from '../../src/message.js';
import { CHANNEL_CLOSE_TIMEOUT_MS, settleWithin } from './timing.js';

export type Confirmation =
  | { readonly kind: 'ack' }
  | { readonly kind: 'nack' }
  | { readonly kind: 'returned'; readonly replyCode: number; readonly replyText: string }
  | { readonly kind: 'closed'; readonly error: Error | undefined };

/** Properties with the postbox-message-id header or a messageId (what a return is matched by). */
export type PublishProperties = Options.Publish;

export interface PublishChannel {
  readonly isOpen: boolean;
  /**
   * Publishes (with mandatory: true unless the properties say otherwise) and calls onConfirm
   * exactly once with the broker's answer.
   * Returns false when the channel's write buffer is full: wait for drained() before sending more.
   * Throws when the message could not be sent at all: the channel is closed (IllegalOperationError),
   * or the properties cannot be encoded (RangeError for headers over 64 KiB).
   */
  send(
    exchange: string,
    routingKey: string,
    content: Buffer,
    properties: PublishProperties,
    onConfirm: (confirmation: Confirmation) => void,
  ): boolean;
  /** Resolves when the write buffer drained or the channel closed. */
  drained(): Promise<void>;
  /** Calls the listener once when the channel closes, with the broker's reason when it gave one. */
  onClose(listener: (error: Error | undefined) => void): void;
  /** Waits up to timeoutMs for outstanding confirms, then closes the channel (bounded: never hangs). */
  close(timeoutMs: number): Promise<void>;
}

/**
 * What matches a returned message to its send: the postbox-message-id header (unique per
 * outbox message, also when a facade message keeps its caller's messageId or has none), else
 * the messageId property.
 */
function trackingId(properties: { readonly headers?: unknown; readonly messageId?: unknown }): string {
  const header: unknown = (properties.headers as Record<string, unknown> | null | undefined)?.[Header.MessageId];
  if (typeof header === 'string') return header;
  return typeof properties.messageId === 'string' ? properties.messageId : '';
}

/** The error amqplib's confirm channel gives a nacked message's callback. */
const NACK_MESSAGE = 'message nacked';

interface Pending {
  returned?: { replyCode: number; replyText: string };
}

export function createPublishChannel(channel: ConfirmChannel): PublishChannel {
  let open = true;
  let closeError: Error | undefined;
  const closeListeners: Array<(error: Error | undefined) => void> = [];
  /** Messages waiting for their confirm, by messageId, oldest first. */
  const pending = new Map<string, Pending[]>();
  let outstanding = 0;
  let idle: (() => void) | undefined;

  channel.on('error', (error: Error) => {
    closeError = error;
  });
  channel.on('close', () => {
    open = false;
    for (const listener of closeListeners.splice(0)) listener(closeError);
  });
  channel.on('return', (message: Message) => {
    const entry = pending.get(trackingId(message.properties))?.find((p) => p.returned === undefined);
    if (entry === undefined) return; // already settled (timed out) or not ours
    const fields = message.fields as Partial<{ replyCode: number; replyText: string }>;
    entry.returned = { replyCode: fields.replyCode ?? 312, replyText: fields.replyText ?? 'NO_ROUTE' };
  });

  function forget(id: string, entry: Pending): void {
    const list = pending.get(id);
    if (list === undefined) return;
    const index = list.indexOf(entry);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) pending.delete(id);
    outstanding -= 1;
    if (outstanding === 0) idle?.();
  }

  return {
    get isOpen() {
      return open;
    },
    send(exchange, routingKey, content, properties, onConfirm) {
      const id = trackingId(properties);
      const entry: Pending = {};
      const confirm = (error: unknown): void => {
        forget(id, entry);
        if (error === null || error === undefined) {
          onConfirm(entry.returned === undefined ? { kind: 'ack' } : { kind: 'returned', ...entry.returned });
        } else if (error instanceof Error && error.message === NACK_MESSAGE) {
          onConfirm({ kind: 'nack' });
        } else {
          open = false;
          onConfirm({ kind: 'closed', error: closeError });
        }
      };
      // publish() throws before queueing anything when it cannot send; only then is nothing pending.
      const writable = channel.publish(exchange, routingKey, content, { mandatory: true, ...properties }, confirm);
      const list = pending.get(id);
      if (list === undefined) pending.set(id, [entry]);
      else list.push(entry);
      outstanding += 1;
      return writable;
    },
    drained() {
      if (!open) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = (): void => {
          channel.removeListener('drain', done);
          channel.removeListener('close', done);
          resolve();
        };
        channel.once('drain', done);
        channel.once('close', done);
      });
    },
    onClose(listener) {
      if (open) closeListeners.push(listener);
      else listener(closeError);
    },
    async close(timeoutMs) {
      if (!open) return;
      if (outstanding > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          idle = resolve;
          timer = setTimeout(resolve, timeoutMs);
        });
        clearTimeout(timer);
        idle = undefined;
      }
      await settleWithin(channel.close(), CHANNEL_CLOSE_TIMEOUT_MS);
    },
  };
}

/**
 * Publishes one message and resolves once the broker confirmed it; rejects when it was returned
 * (unroutable), nacked, lost with the channel, or not confirmed within timeoutMs.
 */
export function publishConfirmed(
  channel: PublishChannel,
  exchange: string,
  routingKey: string,
  content: Buffer,
  properties: PublishProperties,
  timeoutMs: number,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const where = `${exchange === '' ? 'queue' : `exchange ${JSON.stringify(exchange)} key`} ${JSON.stringify(routingKey)}`;
    const timer = setTimeout(
      () => reject(new PostboxError(ErrorCode.PublishTimeout, `no confirm from RabbitMQ within ${timeoutMs} ms for ${where}`)),
      timeoutMs,
    );
    const settle = (confirmation: Confirmation): void => {
      clearTimeout(timer);
      if (confirmation.kind === 'ack') resolve();
      else reject(confirmationError(confirmation, where));
    };
    try {
      channel.send(exchange, routingKey, content, properties, settle);
    } catch (error) {
      clearTimeout(timer);
      reject(error instanceof Error ? error : new Error(String(error)));
    }
  });
}

function confirmationError(confirmation: Exclude<Confirmation, { kind: 'ack' }>, where: string): PostboxError {
  switch (confirmation.kind) {
    case 'returned':
      return new PostboxError(
        ErrorCode.Unroutable,
        `RabbitMQ returned the message for ${where} as unroutable (${confirmation.replyCode} ${confirmation.replyText})`,
      );
    case 'nack':
      return new PostboxError(ErrorCode.Nacked, `RabbitMQ nacked the message for ${where}`);
    case 'closed':
      return new PostboxError(ErrorCode.ConnectionLost, `the channel closed before RabbitMQ confirmed the message for ${where}`, {
        cause: confirmation.error,
      });
  }
}
