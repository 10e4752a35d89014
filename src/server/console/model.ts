/** What a console page's loader gives the page renderer and the downloads. */
import type { Chart } from './charts.js';
import type { FilterKey, Filters } from './filters.js';
import type { Queries } from '../storage/queries.js';
import type { ServerConfig } from '../config.js';
import type { Table } from './table.js';

/** Rows a page shows per table; the downloads have all. */
export const PAGE_ROWS = 1000;

export interface PageData {
  charts: Chart[];
  tables: Table[];
  /** Facts about the figures (what a heuristic means, what is not available). */
  notes?: string[];
}

export interface LoadContext {
  q: Queries;
  cfg: ServerConfig;
  filters: Filters;
  now: number;
  /** Charts are drawn only for the page, not for downloads. */
  charts: boolean;
  /**
   * The page shows the first pageRows rows of each table: a loader may give only those, with the
   * table's `total` (undefined: every row, as a download has them).
   */
  pageRows?: number;
}

export interface PageDef {
  /** URL path and download prefix: `/usage`, `/download/usage/<table>.csv`. */
  path: string;
  slug: string;
  title: string;
  /** Filters the figures of this page honour; the others are shown as not applied. */
  filters: readonly FilterKey[];
  load(ctx: LoadContext): Promise<PageData>;
}
