import { ErrorCode, PostboxError, TransportUnavailableError } from '../errors.js';
import type { OutboxMessage } from '../message.js';
import { PUBLISHED, failed, type PublishResult, type Transport } from '../transport.js';

/**
 * An in-process Transport for unit tests and for users' own tests. It records what was
 * published and can fail on demand. It is not a broker: integration tests of postbox itself
 * use real ones.
 */
export interface MemoryTransport extends Transport {
  /** Every message acknowledged so far, in publish order (repeats included). */
  readonly published: readonly OutboxMessage[];
  /** Makes publish() throw TransportUnavailableError (nothing sent) until set back to false. */
  setUnavailable(unavailable: boolean): void;
  /**
   * Fails each message for which fail(message) returns an Error (recorded nowhere);
   * return undefined to publish it. Replaces any earlier rule.
   */
  failWhen(fail: ((message: OutboxMessage) => Error | undefined) | undefined): void;
  /** Resolves when at least `count` messages were published. */
  waitForCount(count: number, timeoutMs?: number): Promise<readonly OutboxMessage[]>;
  clear(): void;
}

export interface MemoryTransportOptions {
  readonly name?: string;
  /**
   * Called for each message about to be acknowledged (after failWhen): hands it on (the
   * in-process broker fans it out to its queues) or returns an Error that fails it instead.
   */
  readonly deliver?: (message: OutboxMessage) => Error | undefined;
}

export function createMemoryTransport(options: MemoryTransportOptions = {}): MemoryTransport {
  const published: OutboxMessage[] = [];
  const waiters = new Set<() => void>();
  let unavailable = false;
  let closed = false;
  let rule: ((message: OutboxMessage) => Error | undefined) | undefined;

  return {
    name: options.name ?? 'memory',
    published,
    setUnavailable(value) {
      unavailable = value;
    },
    failWhen(fail) {
      rule = fail;
    },
    async publish(batch, { signal }) {
      if (closed) throw new TransportUnavailableError('memory transport is closed');
      if (unavailable) throw new TransportUnavailableError('memory transport set unavailable');
      // A real broker acknowledges asynchronously; so does this.
      await Promise.resolve();
      const results: PublishResult[] = batch.map((message) => {
        if (signal.aborted) return failed(new PostboxError(ErrorCode.Stopped, 'publish aborted'));
        const error = rule?.(message) ?? options.deliver?.(message);
        if (error !== undefined) return failed(error);
        published.push(message);
        return PUBLISHED;
      });
      for (const wake of waiters) wake();
      return results;
    },
    async close() {
      closed = true;
    },
    waitForCount(count, timeoutMs = 10_000) {
      if (published.length >= count) return Promise.resolve(published);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`memory transport: ${published.length} of ${count} messages published after ${timeoutMs} ms`));
        }, timeoutMs);
        function check(): void {
          if (published.length < count) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(published);
        }
        waiters.add(check);
      });
    },
    clear() {
      published.length = 0;
    },
  };
}
