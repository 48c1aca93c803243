/**
 * Runs the built `postbox` command (dist/src/cli/main.js) as a child process, with an
 * environment of its own (no POSTBOX_* or DATABASE_URL of the test run leaks in) and in an
 * empty directory (no postbox.config.* is found by accident).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import { DATABASE_URL, RABBITMQ_URL } from './services.js';
import { waitFor } from './wait.js';

export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** The test database's URL with a password in it (PostgreSQL on loopback trusts it), and that password: it must never be printed. */
export const DB_SECRET_URL = (() => {
  const url = new URL(DATABASE_URL);
  if (url.username === '') url.username = 'postgres';
  if (url.password === '') url.password = 'cli-db-secret';
  return url.toString();
})();
export const SECRETS = [decodeURIComponent(new URL(DB_SECRET_URL).password), `:${decodeURIComponent(new URL(RABBITMQ_URL).password || 'guest')}@`, 'rabbit-secret'];

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly env?: Record<string, string>;
  readonly cwd?: string;
}

/** A fresh empty directory to run the command in. */
export function emptyDirectory(): string {
  return mkdtempSync(join(tmpdir(), 'postbox-cli-'));
}

const home = emptyDirectory();

export function startCli(args: readonly string[], options: CliOptions = {}): RunningCli {
  expect(existsSync(CLI), `${CLI} is missing: build first (npx tsc -p tsconfig.json)`).toBe(true);
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? home,
    env: { PATH: process.env.PATH ?? '', HOME: home, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('close', () => running.delete(child));
  return new RunningCli(child);
}

/** Children still running when a test ends (it failed before stopping them) are killed, never left behind. */
const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, options).exited;
}

export class RunningCli {
  stdout = '';
  stderr = '';
  readonly exited: Promise<CliResult>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stdout: this.stdout, stderr: this.stderr }));
    });
  }

  /** Waits until stdout matches. */
  async waitForStdout(pattern: RegExp, what = String(pattern)): Promise<RegExpMatchArray> {
    return waitFor(`the command to print ${what} (stdout: ${this.stdout}, stderr: ${this.stderr})`, () => pattern.exec(this.stdout));
  }
}

/** No password of the test's URLs appears in anything the command printed. */
export function expectNoSecrets(result: Pick<CliResult, 'stdout' | 'stderr'>): void {
  for (const secret of SECRETS) {
    expect(result.stdout, `stdout shows ${secret}`).not.toContain(secret);
    expect(result.stderr, `stderr shows ${secret}`).not.toContain(secret);
  }
}

/** stdout parsed as the one JSON document --json promises. */
export function json<T = any>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON document:\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
}
