/**
 * Writes records the consumer and replay produce themselves (retry and dead-letter copies, replayed
 * dead letters): idempotent producer, acks = all, one write at a time per producer, awaited,
 * bounded by timeoutMs. A failed or timed-out write rejects with a PostboxError and retires the
 * producer (producer-session.ts explains both).
 */
import { ErrorCode, PostboxError } from '../../src/errors.js';
import { classifyKafkaError } from './classify.js';
import type { KafkaClientLike, ProducerRecord } from './client.js';
import { boundedRetry } from './connection.js';
import { createProducerSession, type ProducerSession } from './producer-session.js';
import { race } from './timing.js';

export interface RecordWriter {
  /** Resolves once every record is acknowledged by all in-sync replicas. */
  write(topic: string, records: ProducerRecord[]): Promise<void>;
  /** Connects the producer ahead of the first write. */
  connect(): Promise<void>;
  close(): Promise<void>;
}

export function createRecordWriter(client: () => Promise<KafkaClientLike>, timeoutMs: number): RecordWriter {
  const session: ProducerSession = createProducerSession({
    kind: 'owned',
    create: async () => (await client()).producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: boundedRetry(timeoutMs) }),
  });

  return {
    async connect() {
      const connected = await race(session.acquire(), timeoutMs);
      if (connected.kind !== 'value') throw new PostboxError(ErrorCode.TransportUnavailable, `Kafka did not answer within ${timeoutMs} ms while connecting a producer`);
    },
    async write(topic, records) {
      const deadline = Date.now() + timeoutMs;
      const taking = session.turn();
      const taken = await race(taking, timeoutMs);
      if (taken.kind !== 'value') {
        void taking.then((t) => t.release(), () => undefined);
        throw new PostboxError(ErrorCode.PublishTimeout, `could not get a producer within ${timeoutMs} ms to write to Kafka topic ${JSON.stringify(topic)}`);
      }
      const { producer, release } = taken.value;
      const remaining = Math.max(1, deadline - Date.now());
      const send = Promise.resolve().then(() => producer.sendBatch({ acks: -1, timeout: remaining, topicMessages: [{ topic, messages: records }] }));
      try {
        const sent = await race(send, remaining);
        if (sent.kind === 'value') return;
      } catch (error) {
        session.retire(producer);
        const failure = classifyKafkaError(error);
        const code = failure.kind === 'missing-topic' ? ErrorCode.DestinationNotFound : failure.kind === 'connection' ? ErrorCode.ConnectionLost : ErrorCode.Nacked;
        throw new PostboxError(code, `writing ${records.length} record(s) to Kafka topic ${JSON.stringify(topic)} failed: ${failure.reason}`, { cause: error });
      } finally {
        void send.then(release, release);
      }
      session.retire(producer);
      throw new PostboxError(ErrorCode.PublishTimeout, `no acknowledgement within ${timeoutMs} ms for ${records.length} record(s) written to Kafka topic ${JSON.stringify(topic)}`);
    },
    close: () => session.close(Math.min(5_000, timeoutMs)),
  };
}
