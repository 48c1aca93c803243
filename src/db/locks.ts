/**
 * Advisory lock keys. Two-int form: (purpose, hash of the schema name), so several postbox
 * schemas in one database never contend, and the keys do not collide with single-bigint locks
 * applications take.
 */
export const LockPurpose = {
  Migrate: 0x706f7301,
  Claim: 0x706f7302,
  Maintenance: 0x706f7303,
} as const;
export type LockPurpose = (typeof LockPurpose)[keyof typeof LockPurpose];

/** FNV-1a of the schema name as a signed 32-bit integer (stable across versions and machines). */
export function schemaLockKey(schema: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < schema.length; i++) {
    hash ^= schema.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}
