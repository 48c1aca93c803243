import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KAFKA_BROKERS } from './services.js';

const run = promisify(execFile);
const script = fileURLToPath(new URL('../../scripts/kafka.sh', import.meta.url));

/**
 * Starts a real Kafka broker (scripts/kafka.sh) unless one already answers, and stops it (and
 * removes its state) after the run if this setup started it. Fails loudly with the reason.
 */
export default async function startKafka(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.POSTBOX_TEST_KAFKA_BROKERS !== undefined) return undefined; // an external broker
  const running = await run('bash', [script, 'status']).then(
    () => true,
    () => false,
  );
  if (running) return undefined;
  try {
    await run('bash', [script, 'start'], { timeout: 180_000 });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr ?? (error as Error).message;
    throw new Error(
      `Kafka tests need a real broker on ${KAFKA_BROKERS.join(',')}; starting one failed:\n${detail}\n` +
        `  Start it by hand with: bash scripts/kafka.sh start (needs java and mvn)\n` +
        `  or point POSTBOX_TEST_KAFKA_BROKERS at one.`,
    );
  }
  return async () => {
    await run('bash', [script, 'stop'], { timeout: 60_000 });
  };
}
