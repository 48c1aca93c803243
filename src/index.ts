// The public surface of postbox. Explicit named exports only.

// Producing: the outbox
export { createOutbox, defaultOutbox, enqueue, enqueueRouted, isOutbox, OUTBOX_DEFAULTS } from './outbox/enqueue.js';
export type { Outbox, OutboxOptions } from './outbox/enqueue.js';
export { ContentType, Header } from './message.js';
export type { Envelope, MessageInput, OutboxMessage } from './message.js';

// Database
export { migrate, schemaVersion } from './db/migrate.js';
export type { MigrateOptions, MigrateResult } from './db/migrate.js';
export { inTransaction, withTransaction } from './db/queryable.js';
export { currentTransaction } from './db/ambient.js';
export type { ConnectionPool, PooledConnection, Queryable, QueryResult } from './db/queryable.js';
export { DEFAULT_SCHEMA } from './db/schema.js';

// Producer facades (adapters/*/facade.ts): wrapped clients that write to the outbox
export { encodeRoute, routeOf, wireHeaders } from './facade/route.js';
export type { Route } from './facade/route.js';
export { facadeTarget, NoTransactionError, OutsideTransaction } from './facade/scope.js';
export { sendWithRetries } from './facade/direct.js';

// Relaying
export { createRelay } from './relay/relay.js';
export type { Relay } from './relay/relay.js';
export { RELAY_DEFAULTS } from './relay/options.js';
export type { RelayOptions } from './relay/options.js';
export type { ChunkPublished, ChunkTopic, RelayEvents, RelayPhase } from './relay/events.js';
export { createNotifier } from './relay/notify.js';
export type { NotifierOptions } from './relay/notify.js';
export type { ErrorEntry } from './relay/store.js';
export { PUBLISHED, failed, hasPublishChunking, isConnectable } from './transport.js';
export type { Connectable, PublishChunking, PublishOptions, PublishResult, Transport } from './transport.js';

// Retry policies
export { DEFAULT_RETRY_POLICY, compileRetryPolicies } from './retry/policy.js';
export type { RetryPolicies } from './retry/policy.js';
export { classifyError, decide } from './retry/decide.js';
export { backoffDelayMs, baseDelayMs } from './retry/backoff.js';
export { DeadReason, Jitter, Ordering } from './retry/types.js';
export type { AttemptFacts, Backoff, Decision, RetryPoliciesInput, RetryPolicy, RetryPolicyInput } from './retry/types.js';
export { createPatternTable, parsePattern, topicProblem } from './topic.js';
export type { PatternTable, TopicPattern } from './topic.js';

// Status
export { readStatus } from './outbox/status.js';
export type { OutboxStatus, RelayStatus, StatusOptions, TopicStatus } from './outbox/status.js';

// Dead letters
export { createDeadLetters } from './outbox/dead-letters.js';
export type { DeadLetter, DeadLetterFilter, DeadLetters, DeadLetterSummary, ReplayResult } from './outbox/dead-letters.js';

// Consuming
export { compose } from './consumer/compose.js';
export { createConsumedMessage } from './consumer/message.js';
export type { ConsumedMessageFields } from './consumer/message.js';
export { attemptError, parseHistory, runHandler, trimHistory } from './consumer/outcome.js';
export type { AttemptError, Outcome, RunOptions } from './consumer/outcome.js';
export type { ConsumeContext, ConsumedMessage, Handler, Middleware } from './consumer/types.js';
export { reply } from './consumer/reply.js';
export type { ReplyOptions } from './consumer/reply.js';
export { createInbox } from './inbox/inbox.js';
export type { Inbox, InboxOptions, InboxResult } from './inbox/inbox.js';
export { inboxMiddleware } from './inbox/middleware.js';
export type { InboxMiddlewareOptions } from './inbox/middleware.js';

// Tracing (OpenTelemetry, through @opentelemetry/api only). Metrics: the postbox/metrics subpath.
export { TRACER_NAME, TRACER_VERSION, activeTraceHeaders } from './tracing/index.js';

// Errors
export {
  ConfigError,
  ErrorCode,
  NonRetryableError,
  PostboxError,
  RetryLaterError,
  TransportUnavailableError,
  ValidationError,
  isNonRetryableError,
  isPostboxError,
  isRetryLaterError,
  isTransportUnavailableError,
} from './errors.js';
export type { Problem } from './errors.js';

// The postbox command's config file (postbox.config.ts can be typed with it)
export type { ConfigFile } from './cli/config/types.js';

// Logging
export { createConsoleLogger, silentLogger } from './logger.js';
export type { Logger, LogLevel } from './logger.js';
export { redactUrl } from './redact.js';
