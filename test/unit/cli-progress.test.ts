import { describe, expect, it } from 'vitest';
import { createProgress } from '../../src/cli/progress.js';

function recorder() {
  const out: string[] = [];
  let clock = 0;
  return { out, write: (text: string) => out.push(text), now: () => clock, advance: (ms: number) => (clock += ms) };
}

describe('progress display', () => {
  it('writes a line at every tenth of the work when stderr is not a terminal, and a final line', () => {
    const r = recorder();
    const progress = createProgress({ verb: 'replaying', total: 1000, write: r.write, now: r.now, tty: false });
    for (let done = 50; done <= 1000; done += 50) {
      r.advance(100);
      progress.update(done);
    }
    progress.finish('replayed 1,000 dead letters');
    expect(r.out).toHaveLength(11);
    expect(r.out[0]).toBe('replaying 100/1,000 (10%, 500/s, about 1.8s left)\n');
    expect(r.out[9]).toMatch(/^replaying 1,000\/1,000 \(100%/);
    expect(r.out[10]).toBe('replayed 1,000 dead letters in 2.0s\n');
  });

  it('writes a line at least every 5 s when the work advances slowly', () => {
    const r = recorder();
    const progress = createProgress({ verb: 'purging', total: 1_000_000, write: r.write, now: r.now, tty: false });
    progress.update(1);
    r.advance(5_000);
    progress.update(2);
    expect(r.out).toEqual([expect.stringMatching(/^purging 2\/1,000,000 \(0%/)]);
  });

  it('redraws one line in place on a terminal, at most 10 times a second', () => {
    const r = recorder();
    const progress = createProgress({ verb: 'purging', total: 300, write: r.write, now: r.now, tty: true });
    progress.update(100);
    progress.update(200);
    r.advance(150);
    progress.update(300);
    progress.finish('purged 300 dead letters');
    expect(r.out).toHaveLength(3);
    expect(r.out.every((text) => text.startsWith('\r\x1b[K'))).toBe(true);
    expect(r.out[2]).toBe('\r\x1b[Kpurged 300 dead letters in 150ms\n');
  });
});
