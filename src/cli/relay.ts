import { readFileSync } from 'node:fs';
import { createConsoleLogger, type LogLevel } from '../logger.js';
import type { RetryPoliciesInput } from '../retry/types.js';
import { createRelay } from '../relay/relay.js';
import type { Transport } from '../transport.js';
import { ExitCode, integerSetting, parseFlags, setting, UsageError, type Flags } from './args.js';
import { openDatabase } from './database.js';

const LEVELS = new Set(['debug', 'info', 'warn', 'error', 'silent']);

/**
 * postbox relay: runs the relay until SIGTERM/SIGINT (graceful: the in-flight batch is settled),
 * a second signal exits at once.
 */
export async function relayCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, {
    'rabbitmq-url': { type: 'string' },
    policies: { type: 'string' },
    'batch-size': { type: 'string' },
    'lease-ms': { type: 'string' },
  });
  const level = setting(flags, 'log-level', 'POSTBOX_LOG_LEVEL', 'info') as string;
  if (!LEVELS.has(level)) throw new UsageError(`--log-level must be one of ${[...LEVELS].join(', ')}, got ${JSON.stringify(level)}`);
  const logger = createConsoleLogger(level as LogLevel);
  const policies = readPolicies(flags);
  const transport = await rabbitmqTransport(flags);
  const { pool, schema } = openDatabase(flags);
  const batchSize = integerSetting(flags, 'batch-size', 'POSTBOX_BATCH_SIZE');
  const leaseMs = integerSetting(flags, 'lease-ms', 'POSTBOX_LEASE_MS');

  const relay = createRelay({ pool, transport, schema, policies, logger, batchSize, leaseMs });
  await relay.start();
  process.stdout.write(`postbox relay ${relay.id} running (schema ${schema}, transport ${transport.name})\n`);

  await new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        logger.warn(`second ${signal}: exiting now; leased messages are published again when their lease expires`);
        process.exit(ExitCode.Failure);
      }
      logger.info(`${signal}: stopping gracefully (send it again to exit at once)`);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  try {
    await relay.stop();
  } finally {
    await transport.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
  }
  return ExitCode.Ok;
}

function readPolicies(flags: Flags): RetryPoliciesInput | undefined {
  const file = setting(flags, 'policies', 'POSTBOX_POLICIES');
  if (file === undefined) return undefined;
  try {
    // Validated by createRelay, which lists every problem.
    return JSON.parse(readFileSync(file, 'utf8')) as RetryPoliciesInput;
  } catch (error) {
    throw new UsageError(`--policies (or POSTBOX_POLICIES): cannot read ${file} as JSON: ${(error as Error).message}`);
  }
}

async function rabbitmqTransport(flags: Flags): Promise<Transport> {
  const url = setting(flags, 'rabbitmq-url', 'POSTBOX_RABBITMQ_URL');
  if (url === undefined) throw new UsageError('no broker: pass --rabbitmq-url or set POSTBOX_RABBITMQ_URL (e.g. amqp://rabbit.internal:5672; credentials in the URL are never logged)');
  // The adapter is loaded only when used: the core imports no broker client.
  const { createRabbitMQTransport } = await import('../../adapters/rabbitmq/index.js');
  return createRabbitMQTransport({ url });
}
