import { migrate } from '../db/migrate.js';
import { redactUrl } from '../redact.js';
import { ExitCode, parseFlags } from './args.js';
import { openDatabase } from './database.js';

export async function migrateCommand(argv: string[]): Promise<number> {
  const flags = parseFlags(argv);
  const { pool, schema, url } = openDatabase(flags);
  try {
    const result = await migrate(pool, { schema });
    if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else if (result.applied.length === 0) process.stdout.write(`schema ${schema} at ${redactUrl(url)} is up to date (version ${result.version})\n`);
    else process.stdout.write(`schema ${schema}: applied ${result.applied.join(', ')} (now version ${result.version})\n`);
    return ExitCode.Ok;
  } finally {
    await pool.end();
  }
}
