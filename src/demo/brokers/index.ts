import type { DemoBrokerOptions } from '../options.js';
import { openInProcessBroker } from './in-process.js';
import type { DemoBroker, DemoBrokerContext } from './types.js';

export type { DemoBroker, DemoConsumerEvent, DemoConsumerSpec } from './types.js';

/** The broker the options name (its adapter and client library are loaded only then), else the in-process one. */
export async function openDemoBroker(options: DemoBrokerOptions | undefined, context: DemoBrokerContext): Promise<DemoBroker> {
  switch (options?.type) {
    case undefined:
      return openInProcessBroker(context);
    case 'rabbitmq':
      return (await import('./rabbitmq.js')).openRabbitMQBroker(options.url, context);
    case 'kafka':
      return (await import('./kafka.js')).openKafkaBroker(options.brokers, context);
    case 'bullmq':
      return (await import('./bullmq.js')).openBullMQBroker(options.url, context);
  }
}
