/**
 * An in-process broker for demos and for your own tests: a Transport for the relay, queues bound
 * to topic patterns, consumers with the same middleware, retry policies and error history as the
 * real adapters, a dead-letter list and replay.
 *
 * It is not a broker: everything lives in this process's memory and is gone when it exits
 * (including messages waiting for a retry), there is one consumer per queue handling one delivery
 * at a time, and nothing is persisted or shared between processes. Use it where RabbitMQ, Kafka or
 * Redis would only be in the way; test against the real one before production.
 */
import { ErrorCode, PostboxError } from '../errors.js';
import type { Handler, Middleware } from '../consumer/types.js';
import type { OutboxMessage } from '../message.js';
import { compileRetryPolicies } from '../retry/policy.js';
import type { RetryPoliciesInput } from '../retry/types.js';
import { parsePattern } from '../topic.js';
import type { Transport } from '../transport.js';
import { createMemoryTransport } from './memory-transport.js';
import { InProcessQueue, type InProcessConsumerEvent, type InProcessDeadLetter } from './in-process-queue.js';

export type { InProcessConsumerEvent, InProcessDeadLetter } from './in-process-queue.js';

export interface InProcessBrokerOptions {
  /** The transport's name (context.transport stays 'in-process'). Default 'in-process'. */
  readonly name?: string;
  /** Consumer-side retry policies per topic pattern, as for every postbox consumer. Default: the built-in policy. */
  readonly policies?: RetryPoliciesInput;
  /** Clock and random source of retry decisions (inject them in tests). */
  readonly now?: () => Date;
  readonly random?: () => number;
}

export interface InProcessConsumerOptions {
  /** The queue, and the consumer's name: the inbox dedup scope. */
  readonly consumer: string;
  /** Topic patterns bound to the queue ('*' one word, '#' zero or more). */
  readonly topics: readonly string[];
  readonly handler: Handler;
  /** Applied outermost first, e.g. [inboxMiddleware({ inbox })]. */
  readonly middleware?: readonly Middleware[];
  readonly onEvent?: (event: InProcessConsumerEvent) => void;
}

export interface InProcessConsumer {
  /** Stops delivering (waits for the delivery in progress). The queue stays bound and keeps receiving. */
  stop(): Promise<void>;
}

export interface InProcessBroker {
  /** Publishes to every queue bound to the topic; a topic no queue is bound to fails as unroutable. */
  readonly transport: Transport;
  /** Every message the transport accepted, in order (repeats included). */
  readonly published: readonly OutboxMessage[];
  /** Binds a queue (created on first use) and consumes it. */
  consume(options: InProcessConsumerOptions): InProcessConsumer;
  /** Binds a queue without consuming it yet (messages wait in it). */
  bind(consumer: string, topics: readonly string[]): void;
  readonly deadLetters: readonly InProcessDeadLetter[];
  /** Moves dead letters back to their queues (same id, history kept, attempts from 1); returns how many. */
  replay(filter?: { readonly consumer?: string; readonly ids?: readonly string[] }): number;
  /** Resolves when no consumed queue has work: nothing ready, in flight or waiting for a retry. */
  idle(timeoutMs?: number): Promise<void>;
  /** Stops every consumer and makes the transport unavailable. Pending retries are dropped. */
  close(): Promise<void>;
}

export function createInProcessBroker(options: InProcessBrokerOptions = {}): InProcessBroker {
  const queues = new Map<string, InProcessQueue>();
  const deadLetters: InProcessDeadLetter[] = [];
  const idleWaiters = new Set<() => void>();

  const host = {
    policies: compileRetryPolicies(options.policies),
    now: options.now ?? (() => new Date()),
    random: options.random ?? Math.random,
    bury: (letter: InProcessDeadLetter) => void deadLetters.push(letter),
    changed: () => {
      if ([...queues.values()].some((queue) => queue.busy)) return;
      for (const wake of [...idleWaiters]) wake();
    },
  };

  function bind(consumer: string, topics: readonly string[]): InProcessQueue {
    if (typeof consumer !== 'string' || consumer.length === 0) throw new TypeError('in-process broker: consumer must be a non-empty string');
    let queue = queues.get(consumer);
    const patterns = topics.map(parsePattern);
    if (queue === undefined) {
      queue = new InProcessQueue(consumer, patterns, host);
      queues.set(consumer, queue);
    } else {
      for (const pattern of patterns) if (!queue.patterns.some((p) => p.source === pattern.source)) queue.patterns.push(pattern);
    }
    return queue;
  }

  // The memory transport's publish (async acknowledgement, abort, close) with delivery to the bound queues.
  const transport = createMemoryTransport({
    name: options.name ?? 'in-process',
    deliver(message) {
      const targets = [...queues.values()].filter((queue) => queue.accepts(message.topic));
      if (targets.length === 0) {
        return new PostboxError(ErrorCode.Unroutable, `in-process broker: no queue is bound to topic ${JSON.stringify(message.topic)}`);
      }
      for (const queue of targets) queue.push({ message, attempt: 1, history: [] });
      return undefined;
    },
  });

  return {
    transport,
    published: transport.published,
    deadLetters,
    bind(consumer, topics) {
      bind(consumer, topics);
    },
    consume(consumerOptions) {
      const queue = bind(consumerOptions.consumer, consumerOptions.topics);
      queue.start({ handler: consumerOptions.handler, middleware: consumerOptions.middleware ?? [], onEvent: consumerOptions.onEvent });
      return { stop: () => queue.stop() };
    },
    replay(filter = {}) {
      const chosen = deadLetters.filter(
        (letter) => (filter.consumer === undefined || letter.consumer === filter.consumer) && (filter.ids === undefined || filter.ids.includes(letter.id)),
      );
      for (const letter of chosen) {
        deadLetters.splice(deadLetters.indexOf(letter), 1);
        queues.get(letter.consumer)?.push({ message: letter.message, attempt: 1, history: letter.errors });
      }
      return chosen.length;
    },
    idle(timeoutMs = 10_000) {
      if (![...queues.values()].some((queue) => queue.busy)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          idleWaiters.delete(done);
          reject(new Error(`in-process broker: still busy after ${timeoutMs} ms`));
        }, timeoutMs);
        function done(): void {
          clearTimeout(timer);
          idleWaiters.delete(done);
          resolve();
        }
        idleWaiters.add(done);
      });
    },
    async close() {
      await transport.close();
      for (const queue of queues.values()) {
        queue.clearTimers();
        await queue.stop();
      }
      host.changed();
    },
  };
}
