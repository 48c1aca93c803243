import { ConfigError } from '../errors.js';
import type { Logger } from '../logger.js';
import { resolveRelayOptions } from '../relay/options.js';
import type { Relay } from '../relay/relay.js';
import { COMMON_FLAGS, ExitCode, RELAY_FLAGS, TRANSPORT_FLAGS } from './args.js';
import type { Command } from './command.js';
import { CONFIG_SUBJECT } from './config/resolve.js';
import { databaseUrlProblems, explainDatabaseError, openDatabase } from './database.js';
import { printLine } from './output.js';
import { onStopSignals } from './stop-signals.js';
import { createTransport } from './transport.js';

export const relayCommand: Command = {
  name: 'relay',
  summary: 'publish outbox messages to the broker until stopped',
  usage: `Usage: postbox relay [--transport rabbitmq|kafka|bullmq] [--rabbitmq-url URL | --kafka-brokers HOST:PORT,...
                     | --redis-url URL] [--database-url URL] [--schema NAME] [--policies FILE]
                     [--batch-size N] [--lease-ms N] [--metrics-port N] [--config FILE]
                     [--log-level debug|info|warn|error|silent] [--json]

Runs a relay: claims outbox messages, publishes them with the broker's acknowledgement, retries
and dead-letters under the retry policies. Run several for availability; order per key holds.
The transport is --transport (or POSTBOX_TRANSPORT, or transport.type in the config file); with
none named, the one broker given decides. Other transport options (routes, topology,
publishTimeoutMs...) and every relay option go in the config file.

  --metrics-port N   serve /metrics (Prometheus), /healthz and /readyz on port N (0: any free port)

SIGTERM or SIGINT stops gracefully: claiming stops, in-flight messages are settled. A second
signal exits at once (exit 1): leased messages are published again when their lease expires.
Logs: JSON lines on stderr (default level info), credentials redacted.

Exit codes: 0 stopped by a signal after a graceful stop, 1 failed to start or forced stop,
2 bad usage or configuration.
`,
  flags: { ...COMMON_FLAGS, ...TRANSPORT_FLAGS, ...RELAY_FLAGS },
  defaultLogLevel: 'info',
  // Lenient, so that the transport's own option problems are listed with all the others.
  config: 'lenient',
  async run({ config, resolved, loadProblems, logger, json }) {
    const made = await createTransport(config, resolved.labels, logger);
    const problems = [...loadProblems, ...resolved.problems, ...databaseUrlProblems(config, resolved.problems), ...('problems' in made ? made.problems : [])];
    if (problems.length > 0 || 'problems' in made) {
      if ('transport' in made) await made.transport.close().catch(() => undefined);
      throw new ConfigError(CONFIG_SUBJECT, problems);
    }
    const { transport, target } = made;
    const stopSignal = waitForStopSignal(logger);
    const planned = resolveRelayOptions({ pool: PLANNING_POOL, transport, ...config.relay });
    // Claims in flight, a heartbeat, cleanup, LISTEN and the metrics' status query.
    const db = await openDatabase(config, { max: planned.maxBatchesInFlight + 4 });
    const { createRelay } = await import('../relay/relay.js');
    const relay = createRelay({ pool: db.pool, transport, schema: db.schema, policies: config.policies, logger, ...config.relay });
    logEvents(relay, logger);
    let metrics: { readonly port: number; close(): Promise<void> } | undefined;
    const shutdown = async (): Promise<void> => {
      await relay.stop();
      await metrics?.close().catch(() => undefined);
      await transport.close().catch(() => undefined);
      await db.pool.end().catch(() => undefined);
    };
    try {
      // Metrics first: they must see what start() reports (a broker unreachable at start makes
      // /readyz and postbox_relay_transport_available say so), and a port in use stops us before
      // the relay registers.
      if (config.metrics.port !== undefined) {
        const { startMetricsServer } = await import('../metrics/index.js');
        metrics = await startMetricsServer({ relay, pool: db.pool, schema: db.schema, port: config.metrics.port, ...(config.metrics.host !== undefined && { host: config.metrics.host }), logger });
      }
      await relay.start();
    } catch (error) {
      await shutdown().catch(() => undefined);
      throw explainDatabaseError(error, db);
    }
    const started = { relayId: relay.id, schema: db.schema, transport: transport.name, target, ...(metrics && { metricsPort: metrics.port }) };
    if (json) process.stdout.write(`${JSON.stringify(started)}\n`);
    else printLine(`postbox relay ${relay.id} running: schema ${db.schema}, ${transport.name} at ${target}${metrics ? `, metrics on port ${metrics.port}` : ''}`);
    await stopSignal;
    await shutdown();
    if (!json) printLine('postbox relay stopped');
    return ExitCode.Ok;
  },
};

/** Resolves on the first SIGTERM/SIGINT; a second one exits at once. Listening starts now, before the relay starts. */
function waitForStopSignal(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    onStopSignals({
      first(signal) {
        logger.info(`${signal}: stopping gracefully (send it again to exit at once)`);
        resolve();
      },
      second(signal) {
        logger.warn(`second ${signal}: exiting now; leased messages are published again when their lease expires`);
      },
    });
  });
}

function logEvents(relay: Relay, logger: Logger): void {
  relay.on('relay:batch-settled', (e) => logger.debug('relay: batch settled', { ...e }));
  relay.on('message:retry-scheduled', (e) => logger.debug('relay: retry scheduled', { ...e }));
}

/** resolveRelayOptions needs a pool to plan the pool's size; this one is never queried. */
const PLANNING_POOL = {
  query: async () => ({ rows: [] }),
  connect: async () => {
    throw new Error('planning only');
  },
};
