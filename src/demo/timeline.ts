import { redactText } from '../redact.js';

/**
 * The demo's output: one line per event, `+1.23s  actor     what happened`, time relative to the
 * start, columns aligned, URLs redacted.
 */
export interface Timeline {
  say(actor: string, text: string): void;
  readonly lines: readonly string[];
  elapsedMs(): number;
}

const ACTOR_WIDTH = 9;

export function createTimeline(write: (line: string) => void, now: () => number = Date.now): Timeline {
  const started = now();
  const lines: string[] = [];
  return {
    lines,
    elapsedMs: () => now() - started,
    say(actor, text) {
      const stamp = `+${((now() - started) / 1000).toFixed(2)}s`.padStart(7);
      const line = `${stamp}  ${actor.padEnd(ACTOR_WIDTH)} ${redactText(text)}`;
      lines.push(line);
      write(line);
    },
  };
}

/** The end of a message id (UUIDv7: the start is a time stamp, the end is random). */
export function shortId(id: string): string {
  return `…${id.slice(-8)}`;
}
