/**
 * The filters every console page and download carries in its URL: from, to (UTC days,
 * inclusive), product, user, host, group (the Unix group of process records) and tz (an IANA time
 * zone the page shows times in; data is stored and exported in UTC). Parsed strictly: a bad value
 * is a 400 naming the parameter.
 */
const DAY_MS = 86_400_000;

export const FILTER_KEYS = ['from', 'to', 'product', 'user', 'host', 'group', 'tz'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];

export interface Filters {
  from: string;
  to: string;
  product?: string;
  user?: string;
  host?: string;
  group?: string;
  tz: string;
}

export class FieldError extends Error {
  constructor(
    /** `query:from`, `form:seats`, ... */
    readonly field: string,
    message: string,
    readonly status = 400,
  ) {
    super(`${field}: ${message}`);
    this.name = 'FieldError';
  }
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
/** The longest range a page reads at once. */
export const MAX_RANGE_DAYS = 366;

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-CA', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const isDate = (s: string) => {
  if (!DATE_RE.test(s)) return false;
  const t = Date.parse(s + 'T00:00:00Z');
  return Number.isFinite(t) && new Date(t).toISOString().slice(0, 10) === s;
};

/** The default range: the last 7 UTC days up to today. */
export function defaultFilters(now: number): Filters {
  const today = new Date(now).toISOString().slice(0, 10);
  return { from: new Date(now - 6 * DAY_MS).toISOString().slice(0, 10), to: today, tz: 'UTC' };
}

/**
 * Filters from a query object (fastify's parsed query string). `extra` names the other parameters
 * this URL may carry; anything else is an error, so a mistyped filter never silently shows
 * everything.
 */
export function parseFilters(query: Record<string, unknown>, now: number, extra: readonly string[] = []): Filters {
  const f = defaultFilters(now);
  for (const [k, raw] of Object.entries(query)) {
    if (!(FILTER_KEYS as readonly string[]).includes(k)) {
      if (extra.includes(k)) continue;
      throw new FieldError(`query:${k}`, `is not a known parameter (filters: ${FILTER_KEYS.join(', ')})`);
    }
    if (typeof raw !== 'string') throw new FieldError(`query:${k}`, 'must be given once');
    const v = raw.trim();
    if (v === '') continue;
    if (v.length > 128) throw new FieldError(`query:${k}`, 'must be at most 128 characters');
    switch (k as FilterKey) {
      case 'from':
      case 'to':
        if (!isDate(v)) throw new FieldError(`query:${k}`, 'must be a date YYYY-MM-DD');
        f[k as 'from' | 'to'] = v;
        break;
      case 'tz':
        if (!isTimeZone(v)) throw new FieldError('query:tz', `"${v}" is not a time zone (IANA name such as Europe/Berlin, or UTC)`);
        f.tz = v;
        break;
      default:
        f[k as 'product' | 'user' | 'host' | 'group'] = v;
    }
  }
  if (f.from > f.to) throw new FieldError('query:from', 'is after to');
  if (rangeDays(f) > MAX_RANGE_DAYS) throw new FieldError('query:to', `the range is longer than ${MAX_RANGE_DAYS} days`);
  return f;
}

export const rangeStart = (f: Pick<Filters, 'from'>): number => Date.parse(f.from + 'T00:00:00Z');
/** The end of the range (exclusive): midnight after `to`. */
export const rangeEnd = (f: Pick<Filters, 'to'>): number => Date.parse(f.to + 'T00:00:00Z') + DAY_MS;
/** `column = ?` for each of these filters that is set (the SQL column beside the filter), with its value: a WHERE clause's equality part. */
export function equalityConditions(
  f: Filters,
  columns: ReadonlyArray<readonly [key: 'product' | 'user' | 'host' | 'group', column: string]>,
): { conds: string[]; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  for (const [k, column] of columns) {
    if (f[k]) {
      conds.push(`${column} = ?`);
      params.push(f[k]);
    }
  }
  return { conds, params };
}

export const rangeDays = (f: Pick<Filters, 'from' | 'to'>): number => (rangeEnd(f) - rangeStart(f)) / DAY_MS;

/** The filters as a query string (`?from=...`), set values only, in FILTER_KEYS order; `extra` appended. */
export function filterQuery(f: Filters, extra: Record<string, string> = {}): string {
  const p = new URLSearchParams();
  for (const k of FILTER_KEYS) {
    const v = f[k];
    if (v !== undefined && !(k === 'tz' && v === 'UTC')) p.set(k, v);
  }
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** `YYYY-MM-DD HH:MM:SS` of an instant in a time zone (what the pages show; exports keep ISO UTC). */
export function formatInZone(t: number | string | null | undefined, tz: string): string {
  if (t === null || t === undefined || t === '') return '';
  const ms = typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) return String(t);
  let fmt = formatters.get(tz);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-CA', {
      timeZone: tz,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(tz, fmt);
  }
  const parts = Object.fromEntries(fmt.formatToParts(ms).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

/** Offset of a time zone from UTC at an instant, in ms (east positive). */
export function zoneOffsetMs(t: number, tz: string): number {
  const shown = formatInZone(t, tz);
  return Date.parse(shown.replace(' ', 'T') + 'Z') - Math.floor(t / 1000) * 1000;
}

/** Midnight of the day containing `t` in `tz`, as a UTC instant. */
export function startOfDayInZone(t: number, tz: string): number {
  const local = t + zoneOffsetMs(t, tz);
  const midnightLocal = Math.floor(local / DAY_MS) * DAY_MS;
  // The offset at midnight may differ from now's (a DST change today).
  return midnightLocal - zoneOffsetMs(midnightLocal - zoneOffsetMs(t, tz), tz);
}
