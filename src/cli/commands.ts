import type { Command } from './command.js';
import { demoCommand } from './demo.js';
import { dlqListCommand } from './dlq/list.js';
import { dlqPurgeCommand } from './dlq/purge.js';
import { dlqReplayCommand } from './dlq/replay.js';
import { dlqShowCommand } from './dlq/show.js';
import { doctorCommand } from './doctor.js';
import { migrateCommand } from './migrate.js';
import { relayCommand } from './relay.js';
import { statusCommand } from './status.js';

/** Every command, by the words that name it ("dlq replay"), in the order `postbox help` lists them. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map(
  [migrateCommand, relayCommand, statusCommand, dlqListCommand, dlqShowCommand, dlqReplayCommand, dlqPurgeCommand, doctorCommand, demoCommand].map((c) => [c.name, c]),
);

/** Command groups: `postbox dlq` alone shows the group's commands. */
export const GROUPS: ReadonlySet<string> = new Set(['dlq']);
