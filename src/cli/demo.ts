import { ExitCode, type Flags } from './args.js';
import type { Command } from './command.js';
import type { Env } from './config/layers.js';
import { printJson } from './output.js';
import { onStopSignals } from './stop-signals.js';

/** Every variable the demo reads a broker from: a broker flag replaces them all, so that it wins. */
const BROKER_VARIABLES = ['POSTBOX_RABBITMQ_URL', 'RABBITMQ_URL', 'POSTBOX_KAFKA_BROKERS', 'KAFKA_BROKERS', 'POSTBOX_REDIS_URL', 'REDIS_URL'];

const DEMO_FLAGS: ReadonlyArray<readonly [flag: string, variable: string]> = [
  ['database-url', 'DATABASE_URL'],
  ['rabbitmq-url', 'POSTBOX_RABBITMQ_URL'],
  ['kafka-brokers', 'POSTBOX_KAFKA_BROKERS'],
  ['redis-url', 'POSTBOX_REDIS_URL'],
];

export const demoCommand: Command = {
  name: 'demo',
  summary: 'the whole story end to end: commit, rollback, relay, inbox, dead letter, replay',
  usage: `Usage: postbox demo [--database-url URL] [--rabbitmq-url URL] [--kafka-brokers HOST:PORT,...]
                    [--redis-url URL] [--json]

Runs the demo: a message committed with a business change, another rolled back, relayed,
consumed exactly once through the inbox with a failure retried with backoff on the way, a poison
message dead-lettered, fixed and replayed. Without a database URL it uses an embedded PostgreSQL
(PGlite); without a broker, an in-process one. The flags override DATABASE_URL,
POSTBOX_RABBITMQ_URL, POSTBOX_KAFKA_BROKERS and POSTBOX_REDIS_URL (a broker flag replaces every
broker variable). The config file is not read. --json: the result on stdout, the story on stderr.
Ctrl+C stops it early and still removes what it created on the services (exit 1).

Exit codes: 0 the demo ran through, 1 it failed, 2 bad usage.
`,
  flags: {
    'database-url': { type: 'string' },
    'rabbitmq-url': { type: 'string' },
    'kafka-brokers': { type: 'string' },
    'redis-url': { type: 'string' },
    json: { type: 'boolean' },
    'log-level': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  config: 'none',
  async run({ flags, env, json }) {
    // Loaded only here: the demo brings PGlite and the in-process broker.
    const demo = await import('../demo/index.js');
    const options = demo.demoOptionsFromEnv(demoEnv(flags, env));
    // Ctrl+C ends the story early but still removes what it created on the services; a second one exits at once.
    const interrupt = new AbortController();
    const stopListening = onStopSignals({
      first(signal) {
        process.stderr.write(`postbox demo: ${signal}: stopping, and removing what the demo created (send it again to exit at once)\n`);
        interrupt.abort();
      },
    });
    try {
      // With --json the timeline goes to stderr, so that stdout holds only the result.
      const write = json ? { write: (line: string) => void process.stderr.write(`${line}\n`) } : {};
      const result = await demo.runDemo({ ...options, ...write, signal: interrupt.signal });
      if (json) printJson(result);
      return ExitCode.Ok;
    } finally {
      stopListening();
    }
  },
};

/** The environment runDemo reads, with the flags mapped onto their variables. */
export function demoEnv(flags: Flags, env: Env): Env {
  const mapped: Record<string, string | undefined> = { ...env };
  if (DEMO_FLAGS.some(([flag, variable]) => variable !== 'DATABASE_URL' && typeof flags[flag] === 'string')) {
    for (const variable of BROKER_VARIABLES) delete mapped[variable];
  }
  for (const [flag, variable] of DEMO_FLAGS) {
    const value = flags[flag];
    if (typeof value === 'string') mapped[variable] = value;
  }
  return mapped;
}
