import { createInProcessBroker, type InProcessConsumer } from '../../testing/in-process-broker.js';
import { DEMO_TOPICS, type DemoBroker, type DemoBrokerContext } from './types.js';

export function openInProcessBroker(context: DemoBrokerContext): DemoBroker {
  const broker = createInProcessBroker({ policies: context.policies });
  let consumer: InProcessConsumer | undefined;
  let name = '';
  return {
    label: 'the in-process broker (postbox/testing; not a real broker)',
    transport: broker.transport,
    async consume(spec) {
      name = spec.consumer;
      consumer = broker.consume({
        consumer: spec.consumer,
        topics: [DEMO_TOPICS],
        handler: spec.handler,
        middleware: spec.middleware,
        onEvent: (event) => {
          if (event.type !== 'message:acked') spec.onEvent(event);
        },
      });
    },
    replayDeadLetters: async () => broker.replay({ consumer: name }),
    async close() {
      await consumer?.stop();
      await broker.close();
    },
  };
}
