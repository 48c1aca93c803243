/** postbox/pglite: postbox on PGlite, an embedded PostgreSQL (optional peer @electric-sql/pglite). */
export { createPGlitePool, PGLITE_SESSION_BUSY } from './pool.js';
export type { PGlitePool } from './pool.js';
export type { PGliteLike, PGliteQueryOptions, PGliteResults, PGliteSource } from './pglite-like.js';
