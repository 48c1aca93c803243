import type { LogLevel, Logger } from '../logger.js';
import type { ExitCode, FlagSpec, Flags } from './args.js';
import type { Env } from './config/layers.js';
import type { Resolved } from './config/resolve.js';
import type { CliConfig } from './config/types.js';

/** One `postbox` command: its flags, help text and what it does. */
export interface Command {
  /** "status", "dlq replay". */
  readonly name: string;
  /** One line for the overview in `postbox help`. */
  readonly summary: string;
  /** The full text of `postbox <command> --help`. */
  readonly usage: string;
  readonly flags: FlagSpec;
  readonly maxPositionals?: number;
  /** Log level when neither --log-level, POSTBOX_LOG_LEVEL nor the file sets one. Default warn. */
  readonly defaultLogLevel?: LogLevel;
  /**
   * strict (default): an invalid configuration stops the command (exit 2); lenient: the command
   * gets the problems and reports them itself (doctor); none: no config file is read (demo).
   */
  readonly config?: 'strict' | 'lenient' | 'none';
  run(context: CommandContext): Promise<ExitCode>;
}

export interface CommandContext {
  readonly flags: Flags;
  readonly positionals: readonly string[];
  readonly json: boolean;
  readonly config: CliConfig;
  /** The merged configuration with every problem found (empty for a strict command). */
  readonly resolved: Resolved;
  /** Files that could not be read (lenient commands only; strict ones stop first). */
  readonly loadProblems: ReadonlyArray<{ readonly field: string; readonly message: string }>;
  readonly logger: Logger;
  readonly env: Env;
}
