import type { Middleware } from '../consumer/types.js';
import type { Inbox } from './inbox.js';

export interface InboxMiddlewareOptions {
  readonly inbox: Inbox;
  /** Overrides the adapter's consumer name as the dedup scope. */
  readonly consumer?: string;
  /** Called when a delivery is skipped as a duplicate (it is still acknowledged). */
  readonly onDuplicate?: (messageId: string, consumer: string) => void;
}

/**
 * Runs the handler inside an inbox transaction (context.tx): a message already processed by this
 * consumer is skipped, and the adapter acknowledges it. The handler's side effects must go
 * through context.tx to be exactly-once; anything else it does is at-least-once.
 */
export function inboxMiddleware(options: InboxMiddlewareOptions): Middleware {
  return (next) => async (message, context) => {
    const consumer = options.consumer ?? context.consumer;
    const result = await options.inbox.process(consumer, message.id, (tx) => next(message, { ...context, tx }));
    if (result.duplicate) options.onDuplicate?.(message.id, consumer);
  };
}
