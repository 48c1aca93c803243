/**
 * The command's logger: pino JSON lines on stderr (written synchronously, so nothing is lost
 * when the process exits), adapted to postbox's Logger interface. Every message, string field
 * and error is redacted: a URL never shows its password.
 */
import pino from 'pino';
import type { Logger, LogLevel } from '../logger.js';
import { redactText } from '../redact.js';

export function createCliLogger(level: LogLevel, fd = 2): Logger {
  const log = pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd, sync: true }),
  );
  const write = (method: 'debug' | 'info' | 'warn' | 'error') => (message: string, fields?: Record<string, unknown>) => {
    if (!log.isLevelEnabled(method)) return;
    log[method](fields === undefined ? {} : (redactValue(fields, 0) as Record<string, unknown>), redactText(message));
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** Redacts strings and errors, a few levels deep (log fields are small, flat objects). */
export function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return { type: value.name, message: redactText(value.message), ...(code !== undefined && { code: String(code) }) };
  }
  if (typeof value !== 'object' || value === null || depth >= 4) return value;
  if (value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, redactValue(item, depth + 1)]));
}
