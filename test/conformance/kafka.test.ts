import { afterAll, beforeAll } from 'vitest';
import { createKafkaTransport } from '../../adapters/kafka/index.js';
import { createTopicAdmin, KAFKA_BROKERS, randomTopic, received, startReader, type Reader, type TopicAdmin } from './kafka-tools.js';
import { describeTransportConformance, type TransportHarness } from './transport-suite.js';

/**
 * Topics are made up front (one createTopics call) and read by one reader (one group join):
 * each topic() call hands out an unused one. Kafka keeps order per partition only, and the suite's
 * messages have no key, so they spread over the 3 partitions: batch order is not preserved. A
 * topic that does not exist is what Kafka cannot route (DestinationNotFound, only its messages).
 */
const POOL_SIZE = 16;
let admin: TopicAdmin;
let reader: Reader;
let pool: string[] = [];

beforeAll(async () => {
  admin = await createTopicAdmin();
  pool = Array.from({ length: POOL_SIZE }, () => randomTopic('conformance'));
  await admin.create(pool);
  reader = await startReader(pool);
});

afterAll(async () => {
  await reader.stop();
  await admin.cleanup();
  await admin.close();
});

const harness: TransportHarness = {
  name: 'kafka',
  features: { detectsUnroutable: true, preservesBatchOrder: false },
  async setup() {
    const transport = createKafkaTransport({ brokers: KAFKA_BROKERS, clientId: 'postbox-conformance' });
    await transport.connect();
    return {
      transport,
      topic() {
        const topic = pool.shift();
        if (topic === undefined) throw new Error(`the conformance topic pool (${POOL_SIZE}) is used up; raise POOL_SIZE`);
        return topic;
      },
      unroutableTopic: () => randomTopic('conformance-missing'),
      async read(topic, count, timeoutMs) {
        return (await reader.take(topic, count, timeoutMs)).map(received);
      },
      async teardown() {
        await transport.close();
      },
    };
  },
};

describeTransportConformance(harness);
