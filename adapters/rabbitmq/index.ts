/** postbox/rabbitmq: the RabbitMQ transport, consumer, connection and channel facade. */
export { createRabbitMQConnection } from './connection.js';
export type { ConnectionEvents, RabbitMQConnection } from './connection.js';
export { createRabbitMQTransport } from './transport.js';
export type { RabbitMQTransport } from './transport.js';
export { RABBITMQ_DEFAULTS } from './options.js';
export type {
  RabbitMQConnectionOptions,
  RabbitMQSharedConnectionTransportOptions,
  RabbitMQTransportOptions,
  ReconnectOptions,
  Route,
} from './options.js';
export { ExchangeType } from './topology.js';
export type { BindingDeclaration, ExchangeDeclaration, QueueDeclaration, TopologyInput } from './topology.js';
export type { RabbitMQUrl } from './url.js';
export { createRabbitMQConsumer } from './consumer.js';
export type { RabbitMQConsumer } from './consumer.js';
export { DEFAULT_PREFETCH, DEFAULT_RETRY_TIERS_MS } from './consumer-options.js';
export type { RabbitMQConsumerEvent, RabbitMQConsumerOptions } from './consumer-options.js';
export { ORIGINAL_EXCHANGE_HEADER, ORIGINAL_ROUTING_KEY_HEADER, tierQueueName } from './copies.js';
export { replayConsumerDeadLetters } from './replay.js';
export type { ReplayDeadLettersOptions } from './replay.js';
export { outboxChannel } from './facade.js';
export type { OutboxChannel, OutboxChannelOptions, PublishCallback } from './facade.js';
