/**
 * Wake-ups. enqueue() signals relays in the same process (an in-process hint, free); a relay
 * sleeps in an interruptible wait between polls. That hint arrives before the producer commits,
 * so a relay treats it as "rows are coming": it polls at its fastest rate for a short window.
 * When the producer commits through withTransaction(), relays are signalled again right after
 * COMMIT, when the rows are visible.
 */
type Listener = () => void;
const listeners = new Map<string, Set<Listener>>();

/** Called by enqueue(): wakes every relay of this schema in this process. */
export function signalEnqueued(schema: string): void {
  const set = listeners.get(schema);
  if (set === undefined) return;
  for (const listener of set) listener();
}

/** Schemas enqueued to through a connection whose transaction has not ended yet. */
const pendingCommits = new WeakMap<object, Set<string>>();

/** On a wrapper of a connection (a facade's serialised view): the connection it wraps. */
export const CONNECTION = Symbol('postbox.connection');

/** Called by enqueue(): remembers that this connection's transaction holds messages for schema. */
export function markEnqueued(wrapperOrDb: object, schema: string): void {
  const db = (wrapperOrDb as { [CONNECTION]?: object })[CONNECTION] ?? wrapperOrDb;
  let schemas = pendingCommits.get(db);
  if (schemas === undefined) {
    schemas = new Set();
    pendingCommits.set(db, schemas);
  }
  schemas.add(schema);
}

/**
 * Called by withTransaction() after COMMIT (committed = true) or ROLLBACK: wakes the relays of
 * the schemas this transaction enqueued to, now that the rows are visible.
 */
export function transactionEnded(db: object, committed: boolean): void {
  const schemas = pendingCommits.get(db);
  if (schemas === undefined) return;
  pendingCommits.delete(db);
  if (committed) for (const schema of schemas) signalEnqueued(schema);
}

/** Subscribes to enqueue hints for a schema; returns the unsubscribe function. */
export function onEnqueued(schema: string, listener: Listener): () => void {
  let set = listeners.get(schema);
  if (set === undefined) {
    set = new Set();
    listeners.set(schema, set);
  }
  set.add(listener);
  return () => {
    set.delete(listener);
    if (set.size === 0) listeners.delete(schema);
  };
}
