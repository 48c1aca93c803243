import type { ConsumeMessage } from 'amqplib';
import { createRabbitMQTransport } from '../../adapters/rabbitmq/index.js';
import { Header } from '../../src/message.js';
import { waitFor } from '../helpers/wait.js';
import { createAdmin, RABBITMQ_URL, randomName } from './rabbitmq-tools.js';
import { describeTransportConformance, type ReceivedMessage, type TransportHarness } from './transport-suite.js';

function received(message: ConsumeMessage): ReceivedMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.properties.headers ?? {})) {
    headers[name] = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  }
  return {
    id: String(message.properties.messageId),
    topic: headers[Header.Topic] ?? message.fields.routingKey,
    key: headers[Header.Key] ?? null,
    payload: message.content,
    contentType: String(message.properties.contentType),
    headers,
    correlationId: (message.properties.correlationId as string | undefined) ?? null,
    replyTo: (message.properties.replyTo as string | undefined) ?? null,
  };
}

const harness: TransportHarness = {
  name: 'rabbitmq',
  features: { detectsUnroutable: true, preservesBatchOrder: true },
  async setup() {
    const admin = await createAdmin();
    const exchange = randomName('conformance-x');
    const nowhere = randomName('conformance-unbound-x');
    const queue = randomName('conformance-q');
    admin.track('exchange', exchange, nowhere);
    admin.track('queue', queue);
    const transport = createRabbitMQTransport({
      url: RABBITMQ_URL,
      connectionName: randomName('conformance'),
      topology: {
        exchanges: [
          { name: exchange, type: 'topic', durable: false },
          { name: nowhere, type: 'topic', durable: false },
        ],
        queues: [{ name: queue, durable: false, bindings: [{ exchange, pattern: '#' }] }],
      },
      routes: { 'conformance.#': { exchange }, 'nowhere.#': { exchange: nowhere } },
    });
    await transport.connect();
    const byTopic = new Map<string, ReceivedMessage[]>();
    await (await admin.channel()).consume(
      queue,
      (message) => {
        if (message === null) return;
        const m = received(message);
        byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), m]);
      },
      { noAck: true },
    );
    return {
      transport,
      topic: () => `conformance.${randomName('t')}`,
      unroutableTopic: () => `nowhere.${randomName('t')}`,
      async read(topic, count, timeoutMs) {
        await waitFor(`${count} message(s) on ${topic}`, () => (byTopic.get(topic)?.length ?? 0) >= count, { timeoutMs });
        return (byTopic.get(topic) ?? []).splice(0, count);
      },
      async teardown() {
        await transport.close();
        await admin.cleanup();
        await admin.close();
      },
    };
  },
};

describeTransportConformance(harness);
