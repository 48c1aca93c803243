/** postbox/kafka: the Kafka transport, consumer, dead-letter replay and producer facade (kafkajs >= 2.2.4, or a client with its API). */
export { createKafkaTransport } from './transport.js';
export type { KafkaTransport } from './transport.js';
export { KAFKA_DEFAULTS } from './options.js';
export type { KafkaTransportOptions } from './options.js';
export type { KafkaBrokerOptions, KafkaClientOption, KafkaSasl } from './connection.js';
export type { KafkaRoute } from './routes.js';
export { KafkaHeader } from './wire.js';
export { createKafkaConsumer } from './consumer.js';
export type { KafkaConsumer } from './consumer.js';
export { ConsumerMode, KAFKA_CONSUMER_DEFAULTS } from './consumer-options.js';
export type { KafkaConsumerEvent, KafkaConsumerOptions } from './consumer-options.js';
export { deadLetterTopicName, retryTopicName } from './copies.js';
export { replayKafkaDeadLetters } from './replay.js';
export { outboxProducer } from './facade.js';
export type { OutboxProducer } from './facade.js';
export type { OutboxProducerOptions, SendingProducer } from './facade-options.js';
export type { KafkaMessageInput, KafkaSendBatchInput, KafkaSendInput } from './facade-input.js';
export type { ReplayKafkaDeadLettersOptions } from './replay.js';
export type {
  ConsumedRecord,
  ConsumerConfigLike,
  ConsumerCrashEventLike,
  EachBatchPayloadLike,
  KafkaAdminLike,
  KafkaClientLike,
  KafkaConsumerLike,
  KafkaProducerLike,
  PartitionMetadataLike,
  ProduceRequest,
  ProducerConfigLike,
  ProducerHeaders,
  ProducerRecord,
  RecordHeaders,
  RecordHeaderValue,
  RecordMetadataLike,
  RetryConfig,
  TopicPartitionsLike,
} from './client.js';
