/**
 * The parts of a Kafka client this adapter uses, typed structurally: kafkajs's Kafka, Producer,
 * Admin and Consumer fit, and so does a client with the same surface (such as the KafkaJS-compatible
 * API of @confluentinc/kafka-javascript). Nothing here imports kafkajs.
 */

/** A header value as Kafka clients read it back: repeated names arrive as arrays. */
export type RecordHeaderValue = Buffer | string | ReadonlyArray<Buffer | string> | undefined;
export type RecordHeaders = { readonly [name: string]: RecordHeaderValue };

/** Headers to produce: an array value is sent as one header per element, under the same name. */
export type ProducerHeaders = { [name: string]: Buffer | string | Array<Buffer | string> };

/**
 * A record to produce (kafkajs Message). timestamp: milliseconds since the epoch, as a string.
 * partition: an explicit partition (else the producer's partitioner places the record).
 */
export interface ProducerRecord {
  readonly key?: Buffer | string | null;
  readonly value: Buffer | string | null;
  readonly headers?: ProducerHeaders;
  readonly partition?: number;
  readonly timestamp?: string;
}

export interface ProduceRequest {
  /** -1: every in-sync replica must have the records (acks = all). */
  readonly acks: number;
  /** How long the broker may wait for replication, in milliseconds. */
  readonly timeout?: number;
  readonly topicMessages: Array<{ topic: string; messages: ProducerRecord[] }>;
}

export interface RecordMetadataLike {
  readonly topicName: string;
  readonly partition: number;
  readonly errorCode: number;
  readonly baseOffset?: string;
}

export interface KafkaProducerLike {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  sendBatch(request: ProduceRequest): Promise<RecordMetadataLike[]>;
  /** kafkajs has it; when present and false, the producer is rejected (postbox needs idempotence). */
  isIdempotent?(): boolean;
}

export interface PartitionMetadataLike {
  readonly partitionId: number;
  readonly replicas: number[];
}

export interface KafkaAdminLike {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  listTopics(): Promise<string[]>;
  fetchTopicMetadata(request: { topics: string[] }): Promise<{ topics: Array<{ name: string; partitions: PartitionMetadataLike[] }> }>;
  createTopics(request: {
    topics: Array<{ topic: string; numPartitions?: number; replicationFactor?: number }>;
    waitForLeaders?: boolean;
    timeout?: number;
  }): Promise<boolean>;
  fetchTopicOffsets(topic: string): Promise<Array<{ partition: number; offset: string; high: string; low: string }>>;
  fetchOffsets(request: { groupId: string; topics: string[] }): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
}

/** A record as a consumer receives it (kafkajs KafkaMessage). */
export interface ConsumedRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly timestamp: string;
  readonly offset: string;
  readonly headers?: RecordHeaders;
}

export interface EachBatchPayloadLike {
  readonly batch: { readonly topic: string; readonly partition: number; readonly messages: ConsumedRecord[] };
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  commitOffsetsIfNecessary(offsets?: { topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> }): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}

export interface TopicPartitionsLike {
  topic: string;
  partitions?: number[];
}

export interface ConsumerCrashEventLike {
  readonly payload: { readonly error: Error; readonly restart: boolean };
}

export interface KafkaConsumerLike {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: { topics: string[]; fromBeginning?: boolean }): Promise<void>;
  run(config: {
    autoCommit?: boolean;
    eachBatchAutoResolve?: boolean;
    partitionsConsumedConcurrently?: number;
    eachBatch: (payload: EachBatchPayloadLike) => Promise<void>;
  }): Promise<void>;
  pause(topics: TopicPartitionsLike[]): void;
  resume(topics: TopicPartitionsLike[]): void;
  on(eventName: 'consumer.crash', listener: (event: ConsumerCrashEventLike) => void): unknown;
}

export interface ProducerConfigLike {
  idempotent?: boolean;
  maxInFlightRequests?: number;
  allowAutoTopicCreation?: boolean;
  retry?: RetryConfig;
}

export interface RetryConfig {
  retries?: number;
  initialRetryTime?: number;
  maxRetryTime?: number;
  multiplier?: number;
  factor?: number;
  restartOnFailure?: (error: Error) => Promise<boolean>;
}

export interface ConsumerConfigLike {
  groupId: string;
  sessionTimeout?: number;
  rebalanceTimeout?: number;
  heartbeatInterval?: number;
  maxWaitTimeInMs?: number;
  allowAutoTopicCreation?: boolean;
  retry?: RetryConfig;
}

/** A Kafka client (kafkajs `new Kafka(...)`): makes producers, admins and consumers. */
export interface KafkaClientLike {
  producer(config?: ProducerConfigLike): KafkaProducerLike;
  admin(config?: { retry?: RetryConfig }): KafkaAdminLike;
  consumer(config: ConsumerConfigLike): KafkaConsumerLike;
}

export function isKafkaClient(value: unknown): value is KafkaClientLike {
  const v = value as Partial<Record<keyof KafkaClientLike, unknown>> | null;
  return typeof v === 'object' && v !== null && typeof v.producer === 'function' && typeof v.admin === 'function' && typeof v.consumer === 'function';
}

export function isProducer(value: unknown): value is KafkaProducerLike {
  const v = value as Partial<Record<keyof KafkaProducerLike, unknown>> | null;
  return typeof v === 'object' && v !== null && typeof v.connect === 'function' && typeof v.disconnect === 'function' && typeof v.sendBatch === 'function';
}

export function isAdmin(value: unknown): value is KafkaAdminLike {
  const v = value as Partial<Record<keyof KafkaAdminLike, unknown>> | null;
  return typeof v === 'object' && v !== null && typeof v.connect === 'function' && typeof v.listTopics === 'function';
}
