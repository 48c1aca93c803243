/**
 * The part of a PGlite instance (@electric-sql/pglite >= 0.2) the pool uses, typed structurally so
 * postbox never imports PGlite's types: any `new PGlite(...)` fits.
 */
export interface PGliteLike {
  /** One statement, extended protocol, with parameters. */
  query(text: string, params?: unknown[], options?: PGliteQueryOptions): Promise<PGliteResults>;
  /** Any number of statements, simple protocol, no parameters. */
  exec(text: string, options?: PGliteQueryOptions): Promise<PGliteResults[]>;
  /** True while the session is inside BEGIN ... COMMIT/ROLLBACK. */
  isInTransaction?(): boolean;
  close?(): Promise<void>;
  readonly closed?: boolean;
  readonly waitReady?: Promise<void>;
}

export interface PGliteQueryOptions {
  /** Per type OID: text value -> JS value. */
  parsers?: { [typeId: number]: (value: string, typeId: number) => unknown };
  /** Per type OID: JS value -> text value. */
  serializers?: { [typeId: number]: (value: any) => string };
}

export interface PGliteResults {
  readonly rows: any[];
  readonly affectedRows?: number;
  /** Per statement (newer PGlite): rows returned or changed. */
  readonly rowCount?: number;
  readonly command?: string;
  readonly fields: ReadonlyArray<{ readonly name: string; readonly dataTypeID: number }>;
}

/** What createPGlitePool() accepts: an instance you own, or where the pool's own instance keeps its data. */
export type PGliteSource = PGliteLike | { readonly dataDir?: string };

export function isPGliteLike(value: unknown): value is PGliteLike {
  const candidate = value as Partial<PGliteLike> | null | undefined;
  return typeof candidate?.query === 'function' && typeof candidate.exec === 'function';
}
