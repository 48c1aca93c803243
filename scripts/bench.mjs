#!/usr/bin/env node
// npm run bench -- <name>: runs bench/<name>.ts (built to dist/bench) with the services on loopback.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const available = readdirSync(new URL('../bench/', import.meta.url))
  .filter((file) => file.endsWith('.ts') && file !== 'stats.ts')
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
const result = spawnSync(process.execPath, [script.pathname], { stdio: 'inherit' });
process.exit(result.status ?? 1);
