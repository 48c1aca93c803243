import { redactText } from './redact.js';

/** The logging interface postbox writes to; pino, bunyan and console-like loggers fit with a thin wrapper. */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const LogLevel = { Debug: 'debug', Info: 'info', Warn: 'warn', Error: 'error', Silent: 'silent' } as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * JSON lines on stderr at or above `level`. URLs in messages and error texts are redacted.
 */
export function createConsoleLogger(level: LogLevel = 'warn', write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const log = (lineLevel: Exclude<LogLevel, 'silent'>) => (message: string, fields?: Record<string, unknown>) => {
    if (RANK[lineLevel] < RANK[level]) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lineLevel, msg: redactText(message) };
    for (const [name, value] of Object.entries(fields ?? {})) {
      entry[name] = value instanceof Error ? redactText(`${value.name}: ${value.message}`) : value;
    }
    write(`${JSON.stringify(entry)}\n`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

export const silentLogger: Logger = createConsoleLogger('silent');
