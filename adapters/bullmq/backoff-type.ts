/**
 * The BullMQ backoff strategy name postbox sets on every job it adds (`backoff: { type: 'postbox' }`).
 * The worker middleware registers a backoff strategy under this name that applies the topic's
 * postbox retry policy, so producer (transport) and consumer (worker) agree on one name.
 */
export const POSTBOX_BACKOFF_TYPE = 'postbox';
