/**
 * PGlite for the demo, started from a cached template when there is one. A new PGlite runs initdb
 * (seconds of CPU); loading the data directory of a fresh one takes well under a second. So the
 * first run saves its fresh data directory (gzip, ~5 MB) in the OS temp directory and later runs
 * load it. A template that does not load (another PGlite version) is replaced.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGliteLike } from '../../adapters/pglite/index.js';

interface PGliteInstance extends PGliteLike {
  dumpDataDir(compression: 'gzip'): Promise<Blob>;
  close(): Promise<void>;
}
type PGliteConstructor = new (options?: { loadDataDir?: Blob }) => PGliteInstance;

const TEMPLATE = join(tmpdir(), 'postbox-demo-pglite-template.tgz');

export async function openEmbeddedPGlite(): Promise<PGliteInstance> {
  const { PGlite } = (await import('@electric-sql/pglite' as string)) as { PGlite: PGliteConstructor };
  const template = await readFile(TEMPLATE).catch(() => undefined);
  if (template !== undefined) {
    try {
      const db = new PGlite({ loadDataDir: new Blob([template]) });
      await db.waitReady;
      return db;
    } catch {
      await rm(TEMPLATE, { force: true });
    }
  }
  const db = new PGlite();
  await db.waitReady;
  await saveTemplate(db).catch(() => undefined); // only a cache
  return db;
}

async function saveTemplate(db: PGliteInstance): Promise<void> {
  const dump = await db.dumpDataDir('gzip');
  const partial = `${TEMPLATE}.${process.pid}.tmp`;
  await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
  await rename(partial, TEMPLATE);
}
