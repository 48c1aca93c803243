import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KAFKA_BROKERS } from '../helpers/services.js';

describe('the Kafka broker the suite runs against', () => {
  it('is a real Apache Kafka broker that creates topics and keeps records with acks=all', async () => {
    const kafka = new Kafka({ clientId: 'postbox-broker-check', brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const producer = kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
    await producer.connect();
    const topic = `broker-check-${Date.now()}`;
    try {
      expect((await admin.describeCluster()).brokers).toHaveLength(1);
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      const [written] = await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'v' }] });
      expect(written?.errorCode).toBe(0);
      const offsets = await admin.fetchTopicOffsets(topic);
      expect(offsets[0]?.high).toBe('1');
    } finally {
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});
