import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DATABASE_URL, RABBITMQ_URL } from '../helpers/services.js';

const run = promisify(execFile);
const demo = new URL('../../dist/examples/demo.js', import.meta.url).pathname;

describe('npm run demo (the README\'s first command)', () => {
  it('tells the whole story against the real services and exits 0', async () => {
    expect(existsSync(demo), 'dist/examples/demo.js is missing: npm test builds it first (npm run build)').toBe(true);
    const { stdout } = await run(process.execPath, [demo], {
      env: { ...process.env, DATABASE_URL, POSTBOX_RABBITMQ_URL: RABBITMQ_URL },
      timeout: 60_000,
    });
    expect(stdout).toContain('rolled back');
    expect(stdout).toMatch(/dead-lettered after 3 attempts: unroutable/);
    expect(stdout).toMatch(/received after replay/);
    expect(stdout).toContain('invoices: 1 (exactly once), outbox pending: 0');
    expect(stdout).not.toContain('guest:guest');
  });
});
