/**
 * Liveness and readiness of a relay, from its events and a cheap database check.
 *
 * - live: the process answers and the relay loop has not stopped (a relay not started yet is live).
 * - ready: the relay is running, its transport is not unavailable (from 'relay:transport-unavailable',
 *   or a failed connect at start, until a publish reaches the broker again: an idle relay does not
 *   probe its broker), and the database answered within the last windowMs (a claim or settle
 *   that worked, a status read, or else a `SELECT 1` made now, bounded by timeoutMs).
 */
import type { Queryable } from '../db/queryable.js';
import { isTransportUnavailableError, toError } from '../errors.js';
import { redactText } from '../redact.js';
import type { Relay } from '../relay/relay.js';
import { withTimeout } from './timeout.js';

export type RelayState = 'not started' | 'running' | 'stopped';

export interface HealthReport {
  readonly ok: boolean;
  /** What failed first, when not ok. */
  readonly reason?: string;
  readonly relay: RelayState;
  readonly transport?: 'available' | 'unavailable';
  readonly database?: 'reachable' | 'unreachable';
}

export interface RelayHealth {
  liveness(): HealthReport;
  readiness(): Promise<HealthReport>;
  relayState(): RelayState;
  readonly transportAvailable: boolean;
  /** Whether the database answered recently (probing it when nothing proved it lately). */
  database(): Promise<{ readonly ok: true } | { readonly ok: false; readonly error: Error }>;
  /** Something else (a status read) just reached the database. */
  noteDatabaseOk(): void;
  close(): void;
}

const DATABASE_PHASES: ReadonlySet<string> = new Set(['claim', 'settle', 'heartbeat']);

export function createRelayHealth(relay: Relay, options: { db: Queryable; windowMs: number; timeoutMs: number }): RelayHealth {
  let everRunning = relay.running;
  let stopped = false;
  let transportError: Error | undefined;
  let databaseOkAt = 0;
  let databaseFailure: { at: number; error: Error } | undefined;
  let probing: Promise<void> | undefined;

  const databaseOk = (): void => {
    databaseOkAt = Date.now();
  };
  const unsubscribe = [
    relay.on('relay:started', () => {
      everRunning = true;
    }),
    relay.on('relay:stopped', () => {
      stopped = true;
    }),
    relay.on('relay:transport-unavailable', ({ error }) => {
      transportError = error;
    }),
    // Also after a connect() at start that failed (reported below as a relay:error): the relay
    // counts the transport as down from then on, until a publish() call gets an answer.
    relay.on('relay:transport-recovered', () => {
      transportError = undefined;
    }),
    relay.on('relay:batch-claimed', databaseOk),
    relay.on('relay:batch-settled', databaseOk),
    relay.on('relay:error', ({ phase, error }) => {
      if (DATABASE_PHASES.has(phase)) databaseFailure = { at: Date.now(), error };
      // The transport's connect() at start failed for want of a broker: unavailable until a publish gets through.
      else if (phase === 'publish' && isTransportUnavailableError(error)) transportError = error;
    }),
  ];

  function relayState(): RelayState {
    if (relay.running) {
      everRunning = true;
      return 'running';
    }
    return everRunning || stopped ? 'stopped' : 'not started';
  }

  async function database(): Promise<{ ok: true } | { ok: false; error: Error }> {
    const now = Date.now();
    if (databaseOkAt > (databaseFailure?.at ?? 0) && now - databaseOkAt <= options.windowMs) return { ok: true };
    probing ??= options.db
      .query('SELECT 1')
      .then(
        () => databaseOk(),
        (error: unknown) => {
          databaseFailure = { at: Date.now(), error: toError(error) };
        },
      )
      .finally(() => {
        probing = undefined;
      });
    try {
      await withTimeout(probing, options.timeoutMs, `the database did not answer within ${options.timeoutMs} ms`);
    } catch (error) {
      return { ok: false, error: toError(error) };
    }
    return databaseOkAt >= now ? { ok: true } : { ok: false, error: databaseFailure?.error ?? new Error('the database check failed') };
  }

  return {
    relayState,
    get transportAvailable() {
      return transportError === undefined;
    },
    database,
    noteDatabaseOk: databaseOk,
    liveness() {
      const state = relayState();
      return state === 'stopped' ? { ok: false, reason: 'the relay loop has stopped', relay: state } : { ok: true, relay: state };
    },
    async readiness() {
      const state = relayState();
      const db = await database();
      const transport = transportError === undefined ? 'available' : 'unavailable';
      const report = { relay: state, transport, database: db.ok ? 'reachable' : 'unreachable' } as const;
      if (state !== 'running') return { ok: false, reason: state === 'stopped' ? 'the relay has stopped' : 'the relay has not started', ...report };
      if (transportError !== undefined) return { ok: false, reason: `transport unavailable: ${redactText(transportError.message)}`, ...report };
      if (!db.ok) return { ok: false, reason: `database unreachable: ${redactText(db.error.message)}`, ...report };
      return { ok: true, ...report };
    },
    close() {
      for (const off of unsubscribe) off();
    },
  };
}
