import { createProgress } from '../progress.js';

/**
 * Works through up to `total` items one page at a time. `page(size)` handles at most `size`
 * items and returns how many it did; a short page means nothing more matches. Progress goes to
 * stderr when there is more than one page.
 */
export async function inPages(options: {
  readonly total: number;
  readonly pageSize: number;
  readonly verb: string;
  page(size: number): Promise<number>;
}): Promise<{ done: number; finish(summary: string): void }> {
  const { total, pageSize } = options;
  const progress = total > pageSize ? createProgress({ verb: options.verb, total }) : undefined;
  let done = 0;
  while (done < total) {
    const size = Math.min(pageSize, total - done);
    const count = await options.page(size);
    done += count;
    progress?.update(done);
    if (count < size) break;
  }
  return { done, finish: (summary) => progress?.finish(summary) };
}
