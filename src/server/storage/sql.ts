/**
 * The one thing both stores differ in below the queries: how a statement runs. SQL is written
 * once, portably: `?` placeholders (PostgreSQL's driver numbers them), quoted "user" and "end"
 * (reserved words in PostgreSQL), ON CONFLICT instead of OR IGNORE, and `greatest` spelled by the
 * dialect (SQLite's scalar max).
 */
export type Dialect = 'sqlite' | 'postgres';

export interface Sql {
  readonly dialect: Dialect;
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Rows as arrays of the selected columns, in order: no object per row (the reports' large reads). */
  rows<T extends unknown[]>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  /** Runs a statement; resolves with the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

/** `greatest(a, b)` in the dialect. */
export const greatest = (d: Dialect): string => (d === 'postgres' ? 'greatest' : 'max');

/** `?` placeholders numbered `$1, $2, ...` (PostgreSQL); the portable SQL has no `?` in literals. */
export function numberPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
