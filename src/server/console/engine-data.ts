/**
 * Pages whose figures come whole from the report engine (src/server/reports/): its page loader
 * and its plain table (`tables`), shown and downloaded like every console table. Numbers are
 * kind `number`; cells of the columns the engine names as instants (Time, Until, Start, End) are
 * times.
 */
import { activePage, harvestPage, tables, workPage, type ReportFilters } from '../reports/index.js';
import { rangeEnd, rangeStart } from './filters.js';
import type { LoadContext, PageData } from './model.js';
import { col, type Cell, type Table } from './table.js';

const TIME_COLUMNS = new Set(['Time', 'Until', 'Start', 'End']);

function engineFilters(ctx: LoadContext): ReportFilters {
  const f = ctx.filters;
  return { from: rangeStart(f), to: rangeEnd(f), product: f.product, user: f.user, host: f.host, group: f.group, timeZone: f.tz, now: ctx.now };
}

function asTable(id: string, title: string, t: { head: string[]; rows: unknown[][] }, note?: string): Table {
  const columns = t.head.map((h, i) => col(h, h, TIME_COLUMNS.has(h) ? 'time' : t.rows.some((r) => typeof r[i] === 'number') ? 'number' : 'text'));
  return { id, title, note, columns, rows: t.rows.map((r) => Object.fromEntries(t.head.map((h, i) => [h, (r[i] ?? null) as Cell]))) };
}

export async function loadActive(ctx: LoadContext): Promise<PageData> {
  const r = await activePage(ctx.q, engineFilters(ctx));
  return {
    charts: [],
    tables: [
      asTable(
        'by-user',
        'Held vs actively used, per product and user',
        tables.active(r),
        'Held: a lease or allocation; active: input in the program (input-events, work periods).',
      ),
    ],
  };
}

export async function loadHarvest(ctx: LoadContext): Promise<PageData> {
  const r = await harvestPage(ctx.q, engineFilters(ctx));
  return { charts: [], tables: [asTable('releases', 'Idle releases, suspends and terminations', tables.harvest(r))] };
}

export async function loadWork(ctx: LoadContext): Promise<PageData> {
  const rows = await workPage(ctx.q, engineFilters(ctx), { by: ctx.filters.group ? 'group' : 'user' });
  return { charts: [], tables: [asTable('patterns', 'Breaks, work and input per user (per group with a group filter)', tables.work(rows))] };
}
