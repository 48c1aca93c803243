/**
 * The configured transport, made by its adapter. Adapters are loaded with a dynamic import only
 * here, so commands that need no broker (and the core) never load a broker client. Making a
 * transport does no I/O (they connect lazily, or in connect()); its option problems come back
 * prefixed with `transport.`, for the one list of configuration problems.
 */
import type { Problem } from '../errors.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactText, redactUrl } from '../redact.js';
import type { Connectable, Transport } from '../transport.js';
import type { CliConfig, TransportType } from './config/types.js';

export type CliTransport = Transport & Connectable;

export type TransportResult = { readonly transport: CliTransport; readonly target: string } | { readonly problems: Problem[] };

const PEER_PACKAGES: Record<TransportType, string> = { rabbitmq: 'amqplib', kafka: 'kafkajs', bullmq: 'bullmq ioredis' };

/** Field label lookup: where a transport option came from ("from --rabbitmq-url"), see resolve.ts. */
type Labels = ReadonlyMap<string, string>;

export async function createTransport(config: CliConfig, labels: Labels, logger: Logger): Promise<TransportResult> {
  const chosen = config.transport;
  if (chosen === undefined) return { problems: [{ field: 'transport', message: `is not configured: ${TRANSPORT_HINT}` }] };
  const options: Record<string, unknown> = { ...chosen.options };
  try {
    switch (chosen.type) {
      case 'rabbitmq': {
        const { createRabbitMQTransport } = await import('../../adapters/rabbitmq/index.js');
        const transport = createRabbitMQTransport(options as never);
        return { transport, target: transport.connection.target };
      }
      case 'kafka': {
        if (options.brokers !== undefined && options.logger === undefined) options.logger = logger;
        const { createKafkaTransport } = await import('../../adapters/kafka/index.js');
        return { transport: createKafkaTransport(options as never), target: `Kafka at ${describe(options.brokers)}` };
      }
      case 'bullmq': {
        if (options.policies === undefined && config.policies !== undefined) options.policies = config.policies;
        if (options.logger === undefined) options.logger = logger;
        const { createBullMQTransport } = await import('../../adapters/bullmq/index.js');
        return { transport: createBullMQTransport(options as never), target: `Redis at ${describe(options.connection)}` };
      }
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      return {
        problems: error.problems.map((problem) => {
          const field = problem.field === 'options' ? 'transport' : `transport.${problem.field}`;
          const label = labelOf(labels, field);
          return { field, message: label === undefined ? problem.message : `${problem.message} (${label})` };
        }),
      };
    }
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') {
      return { problems: [{ field: 'transport.type', message: `${chosen.type} needs ${PEER_PACKAGES[chosen.type]}: npm install ${PEER_PACKAGES[chosen.type]} (${redactText((error as Error).message)})` }] };
    }
    throw error;
  }
}

/** The label of the field, or of the option it is part of ("transport.brokers[0]" -> "transport.brokers"). */
function labelOf(labels: Labels, field: string): string | undefined {
  for (let path = field; ; ) {
    const label = labels.get(path);
    if (label !== undefined) return label;
    const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
    if (cut <= 'transport'.length) return undefined;
    path = path.slice(0, cut);
  }
}

export const TRANSPORT_HINT =
  'pass --transport with its broker (--rabbitmq-url URL, --kafka-brokers HOST:PORT,..., or --redis-url URL), set POSTBOX_TRANSPORT and POSTBOX_RABBITMQ_URL / POSTBOX_KAFKA_BROKERS / POSTBOX_REDIS_URL, or add transport to postbox.config.json';

function describe(value: unknown): string {
  if (typeof value === 'string') return redactUrl(value);
  if (Array.isArray(value)) return value.map(String).join(',');
  return 'the configured address';
}
