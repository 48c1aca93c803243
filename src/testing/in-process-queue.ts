/**
 * One queue of the in-process broker and the consumer reading it: one delivery at a time,
 * acknowledged only after the handler succeeded; a failure is retried after the topic policy's
 * backoff (the message goes back to the end of the queue when its delay is over, so later messages
 * may overtake it, as with a broker's retry queue) or dead-lettered with its error history.
 */
import { compose } from '../consumer/compose.js';
import { createConsumedMessage } from '../consumer/message.js';
import { runHandler, type AttemptError } from '../consumer/outcome.js';
import type { Handler, Middleware } from '../consumer/types.js';
import type { OutboxMessage } from '../message.js';
import type { RetryPolicies } from '../retry/policy.js';
import type { DeadReason } from '../retry/types.js';
import type { TopicPattern } from '../topic.js';

export interface Delivery {
  readonly message: OutboxMessage;
  /** 1 for the first delivery to this queue's consumer. */
  readonly attempt: number;
  readonly history: readonly AttemptError[];
  readonly firstFailedAt?: Date;
  readonly previousDelayMs?: number;
}

export interface InProcessDeadLetter {
  readonly id: string;
  /** The consumer (queue) that gave up on it. */
  readonly consumer: string;
  readonly topic: string;
  readonly key: string | null;
  readonly message: OutboxMessage;
  readonly attempts: number;
  readonly reason: DeadReason;
  /** Every failed attempt: time, attempt, message, code. */
  readonly errors: readonly AttemptError[];
  readonly deadAt: Date;
}

export type InProcessConsumerEvent =
  | { readonly type: 'message:acked'; readonly consumer: string; readonly id: string; readonly topic: string; readonly attempt: number }
  | {
      readonly type: 'message:retry-scheduled';
      readonly consumer: string;
      readonly id: string;
      readonly topic: string;
      readonly attempt: number;
      readonly delayMs: number;
      readonly error: Error;
    }
  | {
      readonly type: 'message:dead-lettered';
      readonly consumer: string;
      readonly id: string;
      readonly topic: string;
      readonly attempt: number;
      readonly reason: DeadReason;
      readonly error: Error;
    };

export interface QueueHost {
  readonly policies: RetryPolicies;
  now(): Date;
  random(): number;
  bury(letter: InProcessDeadLetter): void;
  /** Called whenever the queue's work changes (for idle()). */
  changed(): void;
}

export interface Subscription {
  readonly handler: Handler;
  readonly middleware: readonly Middleware[];
  readonly onEvent?: (event: InProcessConsumerEvent) => void;
}

export class InProcessQueue {
  readonly ready: Delivery[] = [];
  readonly timers = new Set<NodeJS.Timeout>();
  inFlight: Delivery | undefined;
  private subscription: { readonly run: Handler; readonly onEvent?: Subscription['onEvent']; readonly abort: AbortController } | undefined;
  private draining: Promise<void> | undefined;

  constructor(
    readonly name: string,
    readonly patterns: TopicPattern[],
    private readonly host: QueueHost,
  ) {}

  get busy(): boolean {
    return this.inFlight !== undefined || this.timers.size > 0 || (this.subscription !== undefined && this.ready.length > 0);
  }

  accepts(topic: string): boolean {
    return this.patterns.some((pattern) => pattern.matches(topic));
  }

  push(delivery: Delivery): void {
    this.ready.push(delivery);
    this.kick();
  }

  start(subscription: Subscription): void {
    if (this.subscription !== undefined) throw new Error(`in-process broker: queue ${this.name} already has a consumer`);
    const run = compose(...subscription.middleware)(subscription.handler);
    this.subscription = { run, onEvent: subscription.onEvent, abort: new AbortController() };
    this.kick();
  }

  /** Stops delivering; waits for the delivery in progress (its signal is aborted). Queued messages stay. */
  async stop(): Promise<void> {
    const current = this.subscription;
    if (current === undefined) return;
    current.abort.abort();
    this.subscription = undefined;
    await this.draining;
    this.host.changed();
  }

  /** Drops pending retry timers (their messages are lost with the broker: it is closing). */
  clearTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private kick(): void {
    if (this.draining !== undefined) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      // A push() between the end of drain() and here found it still running: go again.
      if (this.subscription !== undefined && this.ready.length > 0) this.kick();
      else this.host.changed();
    });
  }

  private async drain(): Promise<void> {
    await Promise.resolve(); // not inside the caller's push(): delivery is asynchronous, as with a broker
    for (;;) {
      const subscription = this.subscription;
      const delivery = subscription === undefined ? undefined : this.ready.shift();
      if (subscription === undefined || delivery === undefined) return;
      this.inFlight = delivery;
      await this.deliver(delivery, subscription).finally(() => {
        this.inFlight = undefined;
      });
    }
  }

  private async deliver(delivery: Delivery, subscription: NonNullable<InProcessQueue['subscription']>): Promise<void> {
    const { message, attempt } = delivery;
    const { attempt: _publishAttempt, createdAt: _createdAt, ...envelope } = message;
    const consumed = createConsumedMessage({ ...envelope, attempt });
    const context = { consumer: this.name, transport: 'in-process', signal: subscription.abort.signal };
    const outcome = await runHandler(subscription.run, consumed, context, {
      policy: this.host.policies.forTopic(message.topic),
      history: delivery.history,
      firstAttemptAt: delivery.firstFailedAt,
      previousDelayMs: delivery.previousDelayMs,
      now: () => this.host.now(),
      random: () => this.host.random(),
    });
    const about = { consumer: this.name, id: message.id, topic: message.topic, attempt };
    if (subscription.abort.signal.aborted && outcome.kind !== 'ack') {
      this.ready.unshift(delivery); // stopped mid-delivery: not acknowledged, delivered again later
      return;
    }
    if (outcome.kind === 'ack') {
      emit(subscription.onEvent, { type: 'message:acked', ...about });
    } else if (outcome.kind === 'retry') {
      const next: Delivery = {
        message,
        attempt: attempt + 1,
        history: outcome.history,
        firstFailedAt: delivery.firstFailedAt ?? this.host.now(),
        previousDelayMs: outcome.delayMs,
      };
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.push(next);
      }, outcome.delayMs);
      this.timers.add(timer);
      emit(subscription.onEvent, { type: 'message:retry-scheduled', ...about, delayMs: outcome.delayMs, error: outcome.error });
    } else {
      this.host.bury({
        id: message.id,
        consumer: this.name,
        topic: message.topic,
        key: message.key,
        message,
        attempts: attempt,
        reason: outcome.reason,
        errors: outcome.history,
        deadAt: this.host.now(),
      });
      emit(subscription.onEvent, { type: 'message:dead-lettered', ...about, reason: outcome.reason, error: outcome.error });
    }
  }
}

function emit(listener: ((event: InProcessConsumerEvent) => void) | undefined, event: InProcessConsumerEvent): void {
  try {
    listener?.(event);
  } catch {
    /* an observer's error must not change what happens to the message */
  }
}
