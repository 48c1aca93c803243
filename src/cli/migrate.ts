import { migrate } from '../db/migrate.js';
import { COMMON_FLAGS, ExitCode } from './args.js';
import type { Command } from './command.js';
import { withDatabase } from './database.js';
import { printJson, printLine } from './output.js';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'create or upgrade postbox\'s tables in the schema',
  usage: `Usage: postbox migrate [--database-url URL] [--schema NAME] [--config FILE] [--json]

Creates the schema (default "postbox") and applies the migrations this version of postbox
ships that are not applied yet. Safe to run from several processes at once, and again.

Output: what was applied and the version now; --json: { "schema", "applied": [...], "version" }.
Exit codes: 0 done (or already up to date), 1 failed (nothing of the failed migration stays),
2 bad usage or configuration.
`,
  flags: COMMON_FLAGS,
  async run({ config, json }) {
    const result = await withDatabase(config, ({ pool, schema, target }) =>
      migrate(pool, { schema }).then((r) => ({ ...r, target })),
    );
    const { target, ...data } = result;
    if (json) printJson(data);
    else if (data.applied.length === 0) printLine(`schema ${data.schema} at ${target} is up to date (version ${data.version})`);
    else printLine(`schema ${data.schema} at ${target}: applied ${data.applied.join(', ')} (now version ${data.version})`);
    return ExitCode.Ok;
  },
};
