/**
 * runDemo(): the whole postbox story, printed as a timeline. Without a database URL it runs on
 * PGlite (PostgreSQL embedded in this process), without a broker on the in-process broker, so it
 * needs nothing installed; with them it runs against the real services and removes what it created.
 */
import { randomBytes } from 'node:crypto';
import { migrate } from '../db/migrate.js';
import { openDemoBroker, type DemoBroker } from './brokers/index.js';
import { openDemoDatabase } from './database.js';
import { DemoError } from './errors.js';
import type { DemoBrokerOptions, DemoOptions, DemoResult } from './options.js';
import { DEMO_POLICIES, runScenario } from './scenario.js';
import { createTimeline } from './timeline.js';

export { DemoError } from './errors.js';

const START_HINTS: Record<DemoBrokerOptions['type'] | 'postgres' | 'pglite', string> = {
  pglite: 'the embedded database could not start; set DATABASE_URL to run on a PostgreSQL server instead',
  postgres: 'is PostgreSQL running at that address (in this repository: bash scripts/services.sh)? Or unset DATABASE_URL to run on the embedded PGlite',
  rabbitmq: 'is RabbitMQ running at that address (rabbitmq-server -detached, or bash scripts/services.sh)? Or unset POSTBOX_RABBITMQ_URL / RABBITMQ_URL to use the in-process broker',
  kafka: 'is Kafka running at those brokers (in this repository: bash scripts/kafka.sh start)? Or unset POSTBOX_KAFKA_BROKERS / KAFKA_BROKERS to use the in-process broker',
  bullmq: 'is Redis running at that address (redis-server --daemonize yes)? Or unset POSTBOX_REDIS_URL / REDIS_URL to use the in-process broker',
};

/**
 * Tells the story on the services the options name (see demoOptionsFromEnv) and resolves with the
 * timeline and what it ended with. Rejects with a DemoError: `message` says what failed, `hint`
 * what to do (e.g. how to start the service that is down).
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const timeline = createTimeline(write);
  const { say } = timeline;
  const run = randomBytes(3).toString('hex');
  const real = options.databaseUrl !== undefined || options.broker !== undefined;
  const timeoutMs = real ? 60_000 : 15_000;
  const abort = options.signal;

  say('demo', 'postbox: transactional outbox, relay, consumer with inbox, retries, dead letters, replay');
  const db = await failAs(options.databaseUrl === undefined ? 'pglite' : 'postgres', () => openDemoDatabase(options.databaseUrl, run));
  let broker: DemoBroker | undefined;
  let finished = false;
  try {
    abort?.throwIfAborted();
    const { applied } = await failAs(db.kind, () => migrate(db.pool, { schema: db.schema }));
    await db.pool.query(`CREATE TABLE "${db.schema}".orders (id text PRIMARY KEY, amount text NOT NULL)`);
    await db.pool.query(`CREATE TABLE "${db.schema}".invoices (order_id text PRIMARY KEY, amount numeric NOT NULL)`);
    say('database', `${db.label}: ${applied.length} migrations applied, tables orders and invoices`);

    abort?.throwIfAborted();
    const type = options.broker?.type;
    const opened = await failAs(type, () => openDemoBroker(options.broker, { run, policies: DEMO_POLICIES }));
    broker = guarded(opened, type);
    say('broker', opened.label);

    abort?.throwIfAborted();
    const outcome = await runScenario(db, broker, say, timeoutMs, abort);
    finished = true;
    return {
      database: db.kind,
      broker: type ?? 'in-process',
      lines: timeline.lines,
      durationMs: timeline.elapsedMs(),
      outcome,
    };
  } catch (error) {
    if (abort?.aborted) {
      const removed = real ? 'what it had created on the services is removed' : 'nothing of it is kept';
      throw new DemoError('interrupted before the end of the story', `${removed}; run it again to see it all`, { cause: error });
    }
    if (error instanceof DemoError) throw error;
    throw new DemoError((error as Error).message, 'the timeline above shows how far the story got', { cause: error });
  } finally {
    await broker?.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    if (finished) say('done', real ? 'what the demo created on the services is removed' : 'everything lived in memory (only an empty-database template stays in the temp directory, to start faster next time)');
  }
}

type Service = DemoBrokerOptions['type'] | 'postgres' | 'pglite';
const NAMES: Record<Service, string> = { postgres: 'PostgreSQL', pglite: 'PGlite', rabbitmq: 'RabbitMQ', kafka: 'Kafka', bullmq: 'Redis (BullMQ)' };

/** Runs step; an error that is not already a DemoError is explained with the service's hint. */
async function failAs<T>(service: Service | undefined, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof DemoError || service === undefined) throw error;
    const message = `${NAMES[service]}: ${(error as Error).message}`;
    if ((error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND') {
      throw new DemoError(message, 'install the package it names (npm install <package>): the demo loads it only for this mode', { cause: error });
    }
    throw new DemoError(message, START_HINTS[service], { cause: error });
  }
}

/** The broker's own steps fail with its start hint. */
function guarded(broker: DemoBroker, service: DemoBrokerOptions['type'] | undefined): DemoBroker {
  return {
    ...broker,
    consume: (spec) => failAs(service, () => broker.consume(spec)),
    replayDeadLetters: () => failAs(service, () => broker.replayDeadLetters()),
  };
}
