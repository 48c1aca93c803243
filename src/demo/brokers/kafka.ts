import { silentLogger } from '../../logger.js';
import { DEMO_TOPICS, type DemoBroker, type DemoBrokerContext } from './types.js';

export async function openKafkaBroker(brokers: readonly string[], context: DemoBrokerContext): Promise<DemoBroker> {
  const { createKafkaConsumer, createKafkaTransport, deadLetterTopicName, replayKafkaDeadLetters, retryTopicName } = await import(
    '../../../adapters/kafka/index.js'
  );
  const { Kafka, logLevel } = await import('kafkajs');
  const topic = `demo.orders.${context.run}`;
  const admin = new Kafka({ clientId: 'postbox-demo', brokers: [...brokers], logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }).catch(async (error: unknown) => {
    await admin.disconnect();
    throw error;
  });
  const client = { brokers, clientId: 'postbox-demo', logger: silentLogger };
  const transport = createKafkaTransport({ ...client, routes: { [DEMO_TOPICS]: { topic } } });
  let consumer: { stop(): Promise<void> } | undefined;
  return {
    label: `Kafka at ${brokers.join(',')}`,
    transport,
    async consume(spec) {
      const started = createKafkaConsumer({
        ...client,
        groupId: `demo-billing-${context.run}`,
        topics: [topic],
        consumer: spec.consumer,
        policies: context.policies,
        middleware: spec.middleware,
        handler: spec.handler,
        // The broker's floor for a group session; quick fetches.
        sessionTimeoutMs: 6_000,
        heartbeatIntervalMs: 1_000,
        maxWaitTimeMs: 100,
        onEvent: (event) => {
          if (event.type === 'message:retry-scheduled' || event.type === 'message:dead-lettered') spec.onEvent(event);
        },
      });
      await started.start();
      consumer = started;
    },
    replayDeadLetters: () => replayKafkaDeadLetters({ ...client, topic }),
    async close() {
      await consumer?.stop();
      await transport.close();
      try {
        const existing = new Set(await admin.listTopics());
        const topics = [topic, retryTopicName(topic), deadLetterTopicName(topic)].filter((name) => existing.has(name));
        if (topics.length > 0) await admin.deleteTopics({ topics });
      } finally {
        await admin.disconnect();
      }
    },
  };
}
