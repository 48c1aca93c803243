import type { OutboxMessage } from '../message.js';
import type { DeadReason } from '../retry/types.js';

/**
 * What the relay needs from a database: a handful of batch verbs. The PostgreSQL store
 * implements it (outbox/pg-store.ts); another database can, by keeping these contracts.
 */
export interface RelayStore {
  /**
   * Leases up to `limit` available messages for `leaseMs` under `token`, oldest first, never two
   * relays holding messages of the same key, and never a keyed message while another one of its
   * key is leased or in backoff. Each message comes with the attempt it is claimed for; a lease
   * taken over after it expired counts as an attempt that failed. Result in seq order.
   * The token must be unique per claim (the relay uses its id and a claim counter): settling
   * is guarded by it.
   */
  claim(token: string, limit: number, leaseMs: number): Promise<ClaimedMessage[]>;
  /** Applies every outcome of a batch atomically; rows no longer leased under `token` are left alone. */
  settle(token: string, settlement: Settlement, options: { retainPublished: boolean }): Promise<SettleCounts>;
  /** Registers or refreshes a relay (for status). */
  heartbeat(relay: RelayInfo): Promise<void>;
  unregister(relayId: string): Promise<void>;
  /** One round of bounded cleanup. */
  cleanup(options: CleanupOptions): Promise<CleanupCounts>;
  /**
   * Reclaims the dead rows published messages leave in the outbox, so claims stop walking past
   * them. Skips (does not wait) when the table is locked; a no-op without the right to vacuum.
   */
  vacuum(): Promise<void>;
  /**
   * Reclaims the dead rows of the lease table (one per message claimed and settled): it holds a
   * few thousand live rows at most, so this is cheap, and without it every claim walks past every
   * lease of the last minutes until autovacuum comes (a relay slows down by a third within a few
   * hundred thousand messages). Skips when the table is locked.
   */
  vacuumLeases(): Promise<void>;
}

export interface ClaimedMessage extends OutboxMessage {
  /** Position in the outbox (commit/insert order), as a decimal string. */
  readonly seq: string;
  /** Backoff chosen after the previous failed attempt (for decorrelated jitter). */
  readonly previousDelayMs: number | null;
}

/** Identifies one lease of one message: the message id and the attempt it was claimed for. */
export interface LeaseRef {
  readonly id: string;
  readonly attempt: number;
}

/** One failed attempt as recorded in a message's history. */
export interface ErrorEntry {
  readonly at: string;
  readonly attempt: number;
  readonly message: string;
  readonly code?: string;
  /** The backoff chosen after this failure. */
  readonly delayMs?: number;
}

export interface Settlement {
  readonly published: Array<LeaseRef>;
  readonly retried: Array<LeaseRef & { readonly delayMs: number; readonly error: ErrorEntry }>;
  readonly dead: Array<LeaseRef & { readonly reason: DeadReason; readonly error: ErrorEntry | null }>;
  readonly released: Array<LeaseRef>;
}

export interface SettleCounts {
  readonly published: number;
  readonly retried: number;
  readonly dead: number;
  readonly released: number;
}

export interface RelayInfo {
  readonly id: string;
  readonly hostname: string;
  readonly pid: number;
  readonly transport: string;
}

export interface CleanupOptions {
  readonly batchSize: number;
  /** Published rows kept at least this long (0: none are kept). */
  readonly retainPublishedMs: number;
  /** Inbox records kept at least this long; undefined: the relay does not clean the inbox. */
  readonly inboxRetentionMs: number | undefined;
  /** Relays whose heartbeat is older than this are removed from the registry. */
  readonly staleRelayMs: number;
}

export interface CleanupCounts {
  readonly idempotencyKeys: number;
  readonly published: number;
  readonly inbox: number;
  readonly relays: number;
  readonly leases: number;
}
