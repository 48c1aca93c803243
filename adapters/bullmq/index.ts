/** postbox/bullmq: the BullMQ transport, producer facade, worker middleware and dead-letter replay (bullmq >= 6, ioredis). */
export { ENVELOPE_MARK, ENVELOPE_VERSION, fromJobData, isPostboxJobData } from './wire.js';
export type { JobDataMode, PostboxJobData } from './wire.js';

// transport (owned by transport.ts and its modules)
export { POSTBOX_BACKOFF_TYPE } from './backoff-type.js';
export { createBullMQTransport } from './transport.js';
export type { BullMQTransport } from './transport.js';
export { BULLMQ_DEFAULTS } from './options.js';
export type { BullMQTransportOptions } from './options.js';
export type { BullMQConnection, ReconnectOptions as BullMQReconnectOptions } from './connection.js';
export type { BullMQRoute } from './routes.js';
export type { BullMQJobOptions, RetainJobs, RetainOptions } from './job-options.js';

// producer facade (owned by facade.ts and its modules)
export { outboxQueue } from './facade.js';
export type { OutboxJob, OutboxQueue, OutboxQueueOptions } from './facade.js';
export type { BullMQJobRoute } from './job-route.js';

// worker middleware, dead letters and replay (owned by worker.ts and its modules)
export { createBullMQWorker } from './worker.js';
export type { BullMQWorker } from './worker.js';
export { BULLMQ_WORKER_DEFAULTS } from './worker-options.js';
export type { BullMQWorkerEvent, BullMQWorkerOptions, PassThroughWorkerOptions, PostboxProcessorOptions } from './worker-options.js';
export type { BullMQWorkerConnection } from './worker-connection.js';
export { postboxProcessor } from './processor.js';
export type { PostboxProcessor } from './processor.js';
export { isPostboxRetryError, postboxBackoffStrategy, PostboxRetryError } from './backoff-strategy.js';
export type { PostboxBackoffOptions } from './backoff-strategy.js';
export { ATTEMPT_LOG_PREFIX } from './attempt-log.js';
export { DEAD_LETTER_MARK, DEAD_LETTER_VERSION, deadLetterQueueName, isDeadLetterData } from './dead-letters.js';
export type { BullMQDeadLetter, BullMQDeadLetterData, BullMQOriginalJob, ReplayableJobOptions } from './dead-letters.js';
export { countBullMQDeadLetters, listBullMQDeadLetters, purgeBullMQDeadLetters, showBullMQDeadLetter } from './dead-letter-admin.js';
export type { BullMQDeadLetterQueueOptions, ListBullMQDeadLettersOptions, PurgeBullMQDeadLettersOptions } from './dead-letter-admin.js';
export { replayBullMQDeadLetters } from './replay.js';
export type { BullMQReplayed, BullMQReplayResult, ReplayBullMQDeadLettersOptions } from './replay.js';
