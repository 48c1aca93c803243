/**
 * npm run demo: the whole postbox story as a timeline. With nothing set it runs on PGlite (an
 * embedded PostgreSQL) and the in-process broker: nothing to install or start. DATABASE_URL and one
 * of POSTBOX_RABBITMQ_URL, POSTBOX_KAFKA_BROKERS or POSTBOX_REDIS_URL run it against real services.
 */
import { DemoError, demoOptionsFromEnv, runDemo } from '../src/demo/index.js';
import { onStopSignals } from '../src/cli/stop-signals.js';
import { redactText } from '../src/redact.js';

// `npm run demo | head` closes stdout early: that is not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

// Ctrl+C ends the story early but still removes what it created on the services; a second one exits at once.
const interrupt = new AbortController();
const stopListening = onStopSignals({ first: () => interrupt.abort() });

try {
  await runDemo({ ...demoOptionsFromEnv(process.env), signal: interrupt.signal });
} catch (error) {
  process.stderr.write(`demo failed: ${redactText((error as Error).message ?? String(error))}\n`);
  if (error instanceof DemoError) process.stderr.write(`${error.hint}\n`);
  process.exitCode = 1;
} finally {
  stopListening();
}
// Everything is closed by now; should a client library still hold a handle open, do not hang on it.
setTimeout(() => process.exit(), 5_000).unref();
