import type { Handler, Middleware } from '../../consumer/types.js';
import type { RetryPoliciesInput } from '../../retry/types.js';
import type { Transport } from '../../transport.js';

/** What a consumer of any broker tells the demo (the adapters' own events, narrowed). */
export type DemoConsumerEvent =
  | { readonly type: 'message:retry-scheduled'; readonly id: string; readonly attempt: number; readonly delayMs: number; readonly error: Error }
  | { readonly type: 'message:dead-lettered'; readonly id: string; readonly attempt: number; readonly reason: string; readonly error: Error };

export interface DemoConsumerSpec {
  /** The consumer's name: the inbox scope. */
  readonly consumer: string;
  readonly handler: Handler;
  readonly middleware: readonly Middleware[];
  readonly onEvent: (event: DemoConsumerEvent) => void;
}

/** One broker as the demo uses it: the relay's transport, one consumer, its dead letters. */
export interface DemoBroker {
  /** For the first line, e.g. "RabbitMQ at amqp://***@127.0.0.1:5672" (redacted). */
  readonly label: string;
  readonly transport: Transport;
  /** Starts the consumer of every `orders.*` message. */
  consume(spec: DemoConsumerSpec): Promise<void>;
  /**
   * Set when the broker itself drops a message published again with the same id (BullMQ: job id =
   * message id): what to print instead of waiting for the consumer to skip the duplicate.
   */
  readonly dropsRepublished?: string;
  /** Moves the consumer's dead letters back to its queue; returns how many. */
  replayDeadLetters(): Promise<number>;
  /** Stops the consumer and the transport, and removes what the demo created on the broker. */
  close(): Promise<void>;
}

export interface DemoBrokerContext {
  /** Unique per run: names of queues, topics and groups. */
  readonly run: string;
  /** Consumer-side retry policies (short backoff). */
  readonly policies: RetryPoliciesInput;
}

/** The topic pattern every demo message matches. */
export const DEMO_TOPICS = 'orders.#';
