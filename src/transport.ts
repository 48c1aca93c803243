import type { OutboxMessage } from './message.js';

/**
 * A broker as the relay sees it. Adapters implement this; the core imports no broker client.
 *
 * Contract:
 * - publish() returns exactly one result per message, in batch order, and resolves only when
 *   each message was acknowledged by the broker (ok) or definitely failed (not ok).
 *   A message that was returned (unroutable), nacked or timed out is a failure, never a success.
 * - A failed result's error is classified by the relay with the topic's retry policy; a
 *   NonRetryableError (see errors.ts) dead-letters the message at once.
 * - publish() throws TransportUnavailableError only when nothing of the batch was sent
 *   (not connected, cannot connect): the relay then puts the batch back without counting an attempt.
 * - The relay never passes two messages with the same key in one publish() call, so a
 *   transport may send a batch fully in parallel.
 * - When signal aborts, publish() stops waiting and reports the messages not yet
 *   acknowledged as failed.
 */
export interface Transport {
  readonly name: string;
  publish(batch: readonly OutboxMessage[], options: PublishOptions): Promise<PublishResult[]>;
  close(): Promise<void>;
}

export interface PublishOptions {
  readonly signal: AbortSignal;
}

export type PublishResult = { readonly ok: true } | { readonly ok: false; readonly error: Error };

export const PUBLISHED: PublishResult = Object.freeze({ ok: true });

export function failed(error: Error): PublishResult {
  return { ok: false, error };
}

/**
 * Optional ability: the number of messages per publish() call this transport handles best (one
 * produce request per call costs per call: Kafka wants hundreds, RabbitMQ pipelines any size).
 * The relay sends chunks of this size, bounded by its publish window.
 */
export interface PublishChunking {
  readonly preferredChunkSize: number;
}

export function hasPublishChunking(value: unknown): value is PublishChunking {
  const size = (value as Partial<PublishChunking> | null)?.preferredChunkSize;
  return typeof size === 'number' && Number.isSafeInteger(size) && size > 0;
}

/** Optional ability: a transport that can connect (and assert its topology) ahead of the first publish. */
export interface Connectable {
  connect(): Promise<void>;
}

export function isConnectable(value: unknown): value is Connectable {
  return typeof (value as Partial<Connectable> | null)?.connect === 'function';
}
