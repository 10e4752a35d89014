/**
 * The tables the console shows: one model for the page (times in the chosen zone, numbers
 * rounded for reading) and the downloads (CSV and JSON: the same rows and columns, times in ISO
 * UTC, numbers as computed). A column's `kind` decides both.
 */
import { toCsv } from '../csv.js';
import { formatInZone } from './filters.js';

export type ColumnKind = 'text' | 'int' | 'number' | 'time' | 'hours' | 'seconds' | 'bytes';

export interface Column {
  key: string;
  label: string;
  kind: ColumnKind;
}

export type Cell = string | number | boolean | null;
export type Row = Record<string, Cell>;

/** An action form on a row (admin only): POST `url` with hidden fields; `input` adds one editable number field. */
export interface RowAction {
  url: string;
  label: string;
  input?: { name: string; value: number; min: number };
}

export interface Table {
  id: string;
  title: string;
  columns: Column[];
  rows: Row[];
  /** Rows of the whole table, when `rows` holds only its first (LoadContext.pageRows); a download has them all. */
  total?: number;
  /** Shown under the title: what the rows are, what is left out. */
  note?: string;
  /** Admin forms per row (same index as rows); the page renders them only for admins. */
  actions?: Array<RowAction[]>;
}

export const col = (key: string, label: string, kind: ColumnKind = 'text'): Column => ({ key, label, kind });
/** Text columns labelled with their keys (product, user, host, ...). */
export const named = (...keys: string[]): Column[] => keys.map((k) => col(k, k));

/**
 * A table's rows as a page shows them (the first `pageRows`, LoadContext.pageRows) with the total,
 * or all of them (undefined); `row` makes a row of only those kept.
 */
export function pageOf<T>(items: readonly T[], pageRows: number | undefined, row: (x: T) => Row): { rows: Row[]; total: number } {
  return { rows: (pageRows === undefined ? items : items.slice(0, pageRows)).map(row), total: items.length };
}

const round = (x: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** The text of a cell on the page. */
export function displayCell(v: Cell | undefined, kind: ColumnKind, tz: string): string {
  if (v === null || v === undefined || v === '') return '';
  switch (kind) {
    case 'time':
      return formatInZone(v as string | number, tz);
    case 'hours':
    case 'number':
      return typeof v === 'number' ? String(round(v, 2)) : String(v);
    case 'seconds':
      return typeof v === 'number' ? duration(v) : String(v);
    case 'bytes':
      return typeof v === 'number' ? bytes(v) : String(v);
    default:
      return String(v);
  }
}

export function duration(s: number): string {
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${round(x, i === 0 ? 0 : 1)} ${units[i]}`;
}

/** A cell of a download: times as ISO UTC, everything else as computed. */
function exportCell(v: Cell | undefined, kind: ColumnKind): Cell {
  if (v === undefined) return null;
  if (kind === 'time' && typeof v === 'number') return new Date(v).toISOString();
  return v;
}

/** CSV: a header of the column keys, then the rows. */
export function tableCsv(t: Table): string {
  return toCsv(
    t.columns.map((c) => c.key),
    t.rows.map((r) => t.columns.map((c) => exportCell(r[c.key], c.kind))),
  );
}

/** JSON: the columns (key, label, kind) and the rows as objects keyed by column. */
export function tableJson(t: Table, meta: Record<string, unknown>): unknown {
  return {
    ...meta,
    table: t.id,
    title: t.title,
    columns: t.columns,
    rows: t.rows.map((r) => Object.fromEntries(t.columns.map((c) => [c.key, exportCell(r[c.key], c.kind)]))),
  };
}
