/**
 * Progress of a long command (dlq replay, dlq purge) on stderr, never on stdout: one line
 * redrawn in place when stderr is a terminal (at most 10 times a second), else a line at every
 * tenth of the work and at least every 5 s, so that logs of a CI job show it too.
 */
import { formatCount, formatDuration } from './output.js';

export interface Progress {
  /** `done` items of `total` so far. */
  update(done: number): void;
  /** The last line: "replayed 300 of 300 in 1.2s". */
  finish(summary: string): void;
}

export interface ProgressOptions {
  /** "replaying" */
  readonly verb: string;
  readonly total: number;
  readonly write?: (text: string) => void;
  readonly tty?: boolean;
  readonly now?: () => number;
}

const TTY_REDRAW_MS = 100;
const LINE_EVERY_MS = 5_000;

export function createProgress(options: ProgressOptions): Progress {
  const write = options.write ?? ((text: string) => process.stderr.write(text));
  const tty = options.tty ?? process.stderr.isTTY === true;
  const now = options.now ?? Date.now;
  const started = now();
  let lastAt = started;
  let lastTenth = 0;
  let drawn = false;

  const describe = (done: number): string => {
    const total = Math.max(options.total, done);
    const elapsed = now() - started;
    const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
    const rate = elapsed > 0 ? Math.round((done / elapsed) * 1000) : 0;
    const remaining = rate > 0 && done < total ? `, about ${formatDuration(((total - done) / rate) * 1000)} left` : '';
    return `${options.verb} ${formatCount(done)}/${formatCount(total)} (${percent}%, ${formatCount(rate)}/s${remaining})`;
  };

  return {
    update(done) {
      const at = now();
      if (tty) {
        if (at - lastAt < TTY_REDRAW_MS && drawn) return;
        write(`\r\x1b[K${describe(done)}`);
        drawn = true;
        lastAt = at;
        return;
      }
      const tenth = options.total > 0 ? Math.floor((done / options.total) * 10) : 10;
      if (tenth > lastTenth || at - lastAt >= LINE_EVERY_MS) {
        write(`${describe(done)}\n`);
        lastTenth = tenth;
        lastAt = at;
      }
    },
    finish(summary) {
      const line = `${summary} in ${formatDuration(now() - started)}`;
      write(tty ? `\r\x1b[K${line}\n` : `${line}\n`);
    },
  };
}
