/**
 * The error history of a job across its BullMQ attempts, kept in the job's own log (job.log):
 * one line per failed attempt, `postbox:attempt-failed {"at","attempt","message","code"?,"delayMs"?}`.
 * The log lives and dies with the job, shows in any BullMQ dashboard, and leaves job.data alone
 * (it may be a bare payload). A line written before a crash that kept BullMQ from counting the
 * attempt is replaced by the line of the re-run (same attempt number: the last line wins).
 *
 * A job replayed from the dead-letter queue starts with one more line,
 * `postbox:earlier-errors [...]`: the errors of its earlier lives, which its dead letter keeps
 * first should it die again.
 */
import type { Queue } from 'bullmq';
import type { AttemptError } from '../../src/consumer/outcome.js';

export const ATTEMPT_LOG_PREFIX = 'postbox:attempt-failed ';
export const EARLIER_ERRORS_PREFIX = 'postbox:earlier-errors ';

export interface AttemptLog {
  /** Ascending by attempt, one entry per attempt. */
  readonly history: AttemptError[];
  /** The delay chosen after the last logged attempt (for decorrelated jitter). */
  readonly previousDelayMs: number | undefined;
  /** Errors of the message's earlier lives (before a replay), oldest first. */
  readonly earlier: AttemptError[];
}

export const EMPTY_ATTEMPT_LOG: AttemptLog = Object.freeze({ history: [], previousDelayMs: undefined, earlier: [] });

export function earlierErrorsLine(errors: readonly AttemptError[]): string {
  return `${EARLIER_ERRORS_PREFIX}${JSON.stringify(errors)}`;
}

export function attemptLogLine(error: AttemptError, delayMs?: number): string {
  return `${ATTEMPT_LOG_PREFIX}${JSON.stringify(delayMs === undefined ? error : { ...error, delayMs })}`;
}

/** Tolerates other log lines and garbage (skipped). */
export function parseAttemptLog(lines: readonly string[]): AttemptLog {
  const byAttempt = new Map<number, AttemptError & { delayMs?: number }>();
  let earlier: AttemptError[] = [];
  for (const line of lines) {
    if (line.startsWith(EARLIER_ERRORS_PREFIX)) {
      earlier = parseEarlier(line.slice(EARLIER_ERRORS_PREFIX.length));
      continue;
    }
    if (!line.startsWith(ATTEMPT_LOG_PREFIX)) continue;
    try {
      const entry: unknown = JSON.parse(line.slice(ATTEMPT_LOG_PREFIX.length));
      if (!isEntry(entry)) continue;
      byAttempt.set(entry.attempt, entry);
    } catch {
      // not ours after all
    }
  }
  const entries = [...byAttempt.values()].sort((a, b) => a.attempt - b.attempt);
  const last = entries[entries.length - 1];
  return {
    history: entries.map(({ delayMs: _delayMs, ...error }) => error),
    previousDelayMs: typeof last?.delayMs === 'number' ? last.delayMs : undefined,
    earlier,
  };
}

function parseEarlier(json: string): AttemptError[] {
  try {
    const value: unknown = JSON.parse(json);
    return Array.isArray(value) ? value.filter(isEntry) : [];
  } catch {
    return [];
  }
}

export async function readAttemptLog(queue: Queue, jobId: string): Promise<AttemptLog> {
  const { logs } = await queue.getJobLogs(jobId, 0, -1, true);
  return parseAttemptLog(logs);
}

function isEntry(value: unknown): value is AttemptError & { delayMs?: number } {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return typeof entry.at === 'string' && typeof entry.attempt === 'number' && Number.isInteger(entry.attempt) && typeof entry.message === 'string';
}
