#!/usr/bin/env node
// npm run bench -- <name>: runs bench/<name>.ts (built to dist/bench) against the services on
// loopback. For kafka it starts a broker (scripts/kafka.sh) when none answers, and stops it after.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const available = readdirSync(new URL('../bench/', import.meta.url))
  .filter((file) => file.endsWith('.ts') && !['stats.ts', 'harness.ts'].includes(file))
  .map((file) => file.slice(0, -3));
const name = process.argv[2];
if (name === undefined || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${available.join('|')}>\n`);
  process.exit(2);
}
const script = new URL(`../dist/bench/${name}.js`, import.meta.url);
if (!existsSync(script)) {
  process.stderr.write(`dist/bench/${name}.js is missing: run npm run build first\n`);
  process.exit(2);
}
const kafkaScript = new URL('./kafka.sh', import.meta.url).pathname;
const kafkaUp = () => spawnSync('bash', [kafkaScript, 'status']).status === 0;
let startedKafka = false;
if (name === 'kafka' && process.env.POSTBOX_KAFKA_BROKERS === undefined && !kafkaUp()) {
  const started = spawnSync('bash', [kafkaScript, 'start'], { stdio: 'inherit' });
  if (started.status !== 0) process.exit(started.status ?? 1);
  startedKafka = true;
}
const result = spawnSync(process.execPath, [script.pathname], { stdio: 'inherit' });
if (startedKafka) spawnSync('bash', [kafkaScript, 'stop'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
