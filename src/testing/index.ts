export { createMemoryTransport } from './memory-transport.js';
export type { MemoryTransport } from './memory-transport.js';
export { createInProcessBroker } from './in-process-broker.js';
export type {
  InProcessBroker,
  InProcessBrokerOptions,
  InProcessConsumer,
  InProcessConsumerEvent,
  InProcessConsumerOptions,
  InProcessDeadLetter,
} from './in-process-broker.js';
