/**
 * npm run bench -- kafka
 *
 * Reference: the raw kafkajs producer with the relay transport's settings (idempotent, acks = all,
 * sends of the transport's preferred chunk size, BENCH_KAFKA_LANES sends in flight: 1, like the
 * transport, which sends one request at a time per producer to keep idempotent sequences safe),
 * the same records (key, value, postbox headers) to one topic with BENCH_KAFKA_PARTITIONS (3)
 * partitions. See harness.ts for the rest.
 * Settings (env): POSTBOX_KAFKA_BROKERS (127.0.0.1:9092), BENCH_KAFKA_LANES (1),
 * BENCH_KAFKA_PARTITIONS (3), and those of harness.ts.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { createKafkaTransport, KAFKA_DEFAULTS } from '../adapters/kafka/index.js';
import { runBenchmark } from './harness.js';
import { env, rate, samplePayload } from './stats.js';

const BROKERS = (process.env.POSTBOX_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const LANES = env('BENCH_KAFKA_LANES', 1);
const PARTITIONS = env('BENCH_KAFKA_PARTITIONS', 3);
const TOPIC = 'bench.order-placed';
const chunkSize = KAFKA_DEFAULTS.preferredChunkSize;

runBenchmark({
  name: 'kafka',
  reference: `kafkajs idempotent producer, acks all, sends of ${chunkSize}, ${LANES} in flight, ${PARTITIONS} partitions`,
  topic: TOPIC,
  async setup() {
    const kafkaTopic = `postbox-bench-${randomBytes(4).toString('hex')}`;
    const kafka = new Kafka({ clientId: 'postbox-bench', brokers: BROKERS, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: kafkaTopic, numPartitions: PARTITIONS }], waitForLeaders: true });
    return {
      rawPublish: (count) => rawPublish(kafka, kafkaTopic, count),
      transport: () => createKafkaTransport({ brokers: BROKERS, routes: { [TOPIC]: { topic: kafkaTopic } } }),
      // Appending to a Kafka log does not slow down as it grows: nothing to empty between phases.
      reset: async () => undefined,
      teardown: async () => {
        await admin.deleteTopics({ topics: [kafkaTopic] }).catch(() => undefined);
        await admin.disconnect();
      },
    };
  },
});

/** What kafkajs alone does with the same records, settings and destination. */
async function rawPublish(kafka: Kafka, topic: string, count: number): Promise<number> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  const started = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const first = next;
      next = Math.min(count, next + chunkSize);
      const messages = [];
      for (let i = first; i < next; i++) {
        const id = randomUUID();
        messages.push({
          key: `order-${i}`,
          value: Buffer.from(JSON.stringify(samplePayload(i))),
          timestamp: String(Date.now()),
          headers: {
            'postbox-message-id': id,
            'postbox-topic': TOPIC,
            'postbox-key': `order-${i}`,
            'postbox-publish-attempt': '1',
            'postbox-created-at': new Date().toISOString(),
            'content-type': 'application/json',
          },
        });
      }
      await producer.send({ topic, acks: -1, messages });
    }
  };
  await Promise.all(Array.from({ length: LANES }, lane));
  const elapsed = performance.now() - started;
  await producer.disconnect();
  return rate(count, elapsed);
}
