/**
 * The outbox status (readStatus: three scans of the outbox, dead letters and relays) for the
 * scrape-time gauges: read at most once per maxAgeMs, and one read at a time however many scrapes
 * ask, so scrapes never hammer the database.
 */
import type { Queryable } from '../db/queryable.js';
import { readStatus, type OutboxStatus } from '../outbox/status.js';
import { withTimeout } from './timeout.js';

export interface StatusCache {
  /** The cached status when fresh, else a new read (shared with concurrent callers). */
  read(): Promise<OutboxStatus>;
}

export function createStatusCache(options: { db: Queryable; schema: string; maxAgeMs: number; timeoutMs: number; onRead?: () => void }): StatusCache {
  let cached: { at: number; status: OutboxStatus } | undefined;
  let reading: Promise<OutboxStatus> | undefined;

  function start(): Promise<OutboxStatus> {
    reading ??= readStatus(options.db, { schema: options.schema })
      .then((status) => {
        cached = { at: Date.now(), status };
        options.onRead?.();
        return status;
      })
      .finally(() => {
        reading = undefined;
      });
    return reading;
  }

  return {
    read() {
      if (cached !== undefined && Date.now() - cached.at < options.maxAgeMs) return Promise.resolve(cached.status);
      return withTimeout(start(), options.timeoutMs, `reading the outbox status took longer than ${options.timeoutMs} ms`);
    },
  };
}
