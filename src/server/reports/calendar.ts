/**
 * UTC calendar arithmetic for the reports: days, ISO weeks, the reference's Sunday weeks numbered
 * from the era origin (shared/reference/004), seconds since that origin, and hour/weekday of an
 * instant in an IANA time zone (for heatmaps; everything is stored and exported in UTC).
 */

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

export const REPORT_PERIODS = ['day', 'week', 'month', 'year'] as const;
export type ReportPeriod = (typeof REPORT_PERIODS)[number];
/**
 * Periods a summary can be built for: the API's periods, plus `refweek`, the reference's week
 * (Sunday to Saturday UTC, keyed `W104695`), used by the log-file export.
 */
export type SummaryPeriod = ReportPeriod | 'refweek';
/** ISO order: Monday first. */
export const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'] as const;

/** Years 1970-9999: what the fast formatting below covers; other instants go through Date. */
const FAST_UNTIL = 253_402_300_800_000;
const PAD2 = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const PAD3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/** `YYYY-MM-DDT` of a UTC day number: a report formats several instants of each day. */
const dayPrefixes = new Map<number, string>();
function dayPrefix(day: number): string {
  let p = dayPrefixes.get(day);
  if (p === undefined) {
    if (dayPrefixes.size >= 50_000) dayPrefixes.clear();
    p = new Date(day * DAY_MS).toISOString().slice(0, 11);
    dayPrefixes.set(day, p);
  }
  return p;
}

/**
 * `Date#toISOString` of an instant, character for character (a report formats every start and
 * end of a 90-day log: the Date object and its formatting were most of its time).
 */
export function iso(t: number): string {
  if (!(t >= 0 && t < FAST_UNTIL)) return new Date(t).toISOString();
  const ms = Math.trunc(t);
  const day = Math.floor(ms / DAY_MS);
  let r = ms - day * DAY_MS;
  const h = Math.floor(r / HOUR_MS);
  r -= h * HOUR_MS;
  const m = Math.floor(r / 60_000);
  r -= m * 60_000;
  const sec = Math.floor(r / 1000);
  return `${dayPrefix(day)}${PAD2[h]}:${PAD2[m]}:${PAD2[sec]}.${PAD3[r - sec * 1000]}Z`;
}
/**
 * Order of two `iso` texts: as their instants (one format, so code units order them as a locale
 * compare does, without its cost).
 */
export const compareIso = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
export const dayKey = (t: number): string => (t >= 0 && t < FAST_UNTIL ? dayPrefix(Math.floor(Math.trunc(t) / DAY_MS)).slice(0, 10) : iso(t).slice(0, 10));
export const dayStart = (t: number): number => Math.floor(t / DAY_MS) * DAY_MS;
/** 0 = Monday ... 6 = Sunday (UTC). */
export const weekday = (t: number): number => (new Date(t).getUTCDay() + 6) % 7;

/** Pieces of [start, end) split at UTC midnights. */
export function splitAtUtcMidnight(start: number, end: number): Array<{ day: string; start: number; end: number }> {
  const out: Array<{ day: string; start: number; end: number }> = [];
  eachUtcDay(start, end, (s, e) => out.push({ day: dayKey(s), start: s, end: e }));
  return out;
}

/** splitAtUtcMidnight's pieces [a, b) handed to `fn` one by one, without making them (the usage log's hot loop). */
export function eachUtcDay(start: number, end: number, fn: (a: number, b: number) => void): void {
  for (let s = start; s < end; ) {
    const e = Math.min(end, dayStart(s) + DAY_MS);
    fn(s, e);
    s = e;
  }
}

/** ISO 8601 week of a UTC instant: `YYYY-Www`, weeks start on Monday, week 1 holds the year's first Thursday. */
export function isoWeekKey(t: number): string {
  const d = dayStart(t);
  const thursday = d + (3 - weekday(d)) * DAY_MS;
  const year = new Date(thursday).getUTCFullYear();
  const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * DAY_MS)) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

/**
 * The era origin of the reference's Log.txt times and week numbers: 0001-01-01T00:00:00Z in the
 * proleptic Gregorian calendar (the reference counts "from the start of the Christian era as 0").
 * It is the only origin that makes the Sunday-to-Saturday week of 2007-07-01 week 104695, the
 * reference's example. (Date.UTC maps years 0..99 to 1900..1999, hence setUTCFullYear.)
 */
export const ERA_ORIGIN_MS: number = (() => {
  const d = new Date(0);
  d.setUTCFullYear(1, 0, 1);
  return d.getTime();
})();

/** Whole seconds from the era origin (the reference's StartTime(InSeconds)). */
export const eraSeconds = (t: number): number => Math.floor((t - ERA_ORIGIN_MS) / 1000);

/** The reference's week number: weeks run Sunday to Saturday (UTC); the week holding 0001-01-01 (a Monday) is week 1. */
export function refWeekNumber(t: number): number {
  const days = Math.floor((t - ERA_ORIGIN_MS) / DAY_MS);
  // Day 0 is a Monday, so the week's Sunday is one day before it.
  return Math.floor((days + 1) / 7) + 1;
}

/** Start (Sunday 00:00 UTC) of the reference week holding t. */
export const refWeekStart = (t: number): number => dayStart(t) - new Date(t).getUTCDay() * DAY_MS;

/** The period containing t: its key and [start, end) in ms. */
export function periodOf(period: SummaryPeriod, t: number): { key: string; start: number; end: number } {
  const d = new Date(t);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  switch (period) {
    case 'day':
      return { key: dayKey(t), start: dayStart(t), end: dayStart(t) + DAY_MS };
    case 'week': {
      const start = dayStart(t) - weekday(t) * DAY_MS;
      return { key: isoWeekKey(t), start, end: start + 7 * DAY_MS };
    }
    case 'refweek': {
      const start = refWeekStart(t);
      return { key: `W${refWeekNumber(t)}`, start, end: start + 7 * DAY_MS };
    }
    case 'month':
      return { key: `${y}-${String(m + 1).padStart(2, '0')}`, start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
    case 'year':
      return { key: String(y), start: Date.UTC(y, 0, 1), end: Date.UTC(y + 1, 0, 1) };
  }
}

/** HH:MM:SS of t after `dayBegin` (24:00:00 for the next midnight). */
const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);
export const hms = (t: number, dayBegin: number): string => {
  const s = Math.round((t - dayBegin) / 1000);
  // Formatted by hand: a page's log has tens of thousands of these.
  return `${two(Math.floor(s / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
};
export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

const zoneFormats = new Map<string, Intl.DateTimeFormat>();
/** A clear error for a time zone Intl does not know. */
export function checkTimeZone(timeZone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
  } catch {
    throw new RangeError(`unknown time zone: ${timeZone}`);
  }
}

export function isTimeZone(timeZone: string): boolean {
  try {
    checkTimeZone(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Local hour (0-23), weekday (0 = Monday) and UTC offset (ms) of t in an IANA zone. */
export function zonedParts(t: number, timeZone: string): { hour: number; weekday: number; offsetMs: number } {
  if (timeZone === 'UTC') return { hour: new Date(t).getUTCHours(), weekday: weekday(t), offsetMs: 0 };
  let f = zoneFormats.get(timeZone);
  if (!f) {
    checkTimeZone(timeZone);
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    zoneFormats.set(timeZone, f);
  }
  const p: Record<string, number> = {};
  for (const x of f.formatToParts(t)) if (x.type !== 'literal') p[x.type] = Number(x.value);
  const local = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const offsetMs = local - Math.floor(t / 1000) * 1000;
  return { hour: p.hour, weekday: weekday(local), offsetMs };
}
