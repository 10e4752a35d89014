/**
 * Work patterns from the UsageAnalyzer-style records (shared/reference/002): breaks by type
 * (microbreak, short, extended), work periods (uninterrupted, extended), input intensity (key and
 * pointer events and keyboard/mouse switches per active hour) and application switches, per user
 * and per group. The store sums the records (loaders.ts); `sumActivity` makes the same sums.
 */

/** Sums of the records of one (user, type, break type, period type). */
export interface ActivitySums {
  user: string;
  type: 'break' | 'work' | 'input-events';
  breakType: string | null;
  periodType: string | null;
  count: number;
  totalSeconds: number;
  maxSeconds: number;
  keyboard: number;
  mouse: number;
  switches: number;
}

export interface ActivityRecordRow {
  user: string | null;
  type: 'break' | 'work' | 'input-events';
  breakType: string | null;
  periodType: string | null;
  durationSeconds: number | null;
  keyboard: number | null;
  mouse: number | null;
  switch: number | null;
}

export function sumActivity(rows: readonly ActivityRecordRow[]): ActivitySums[] {
  const m = new Map<string, ActivitySums>();
  for (const r of rows) {
    const k = [r.user, r.type, r.breakType, r.periodType].join('\u0000');
    let s = m.get(k);
    if (!s)
      m.set(
        k,
        (s = {
          user: r.user ?? '',
          type: r.type,
          breakType: r.breakType,
          periodType: r.periodType,
          count: 0,
          totalSeconds: 0,
          maxSeconds: 0,
          keyboard: 0,
          mouse: 0,
          switches: 0,
        }),
      );
    s.count++;
    s.totalSeconds += r.durationSeconds ?? 0;
    s.maxSeconds = Math.max(s.maxSeconds, r.durationSeconds ?? 0);
    s.keyboard += r.keyboard ?? 0;
    s.mouse += r.mouse ?? 0;
    s.switches += r.switch ?? 0;
  }
  return [...m.values()];
}

export interface PeriodStats {
  count: number;
  totalHours: number;
  averageHours: number;
  maxHours: number;
}
export interface WorkPatternRow {
  /** A user, or a group (`by: 'group'`). */
  name: string;
  users: number;
  breaks: Record<string, PeriodStats>;
  work: Record<string, PeriodStats>;
  /** Hours covered by input-events intervals, and the events in them. */
  inputHours: number;
  keyboard: number;
  mouse: number;
  keyboardMouseSwitches: number;
  keyboardPerHour: number;
  mousePerHour: number;
  applicationSwitches: number;
}

export const BREAK_TYPES = ['microbreak', 'short', 'extended'] as const;
export const PERIOD_TYPES = ['uninterrupted', 'extended'] as const;

const emptyStats = (): PeriodStats => ({ count: 0, totalHours: 0, averageHours: 0, maxHours: 0 });

/**
 * Per user (or per group, when `groups` maps users to groups and `by` is 'group'); users without a
 * group fall in group '' .
 */
export function workPatterns(input: {
  sums: readonly ActivitySums[];
  applicationSwitches?: ReadonlyArray<{ user: string; switches: number }>;
  groups?: Readonly<Record<string, string>>;
  by?: 'user' | 'group';
}): WorkPatternRow[] {
  const nameOf = (u: string) => (input.by === 'group' ? (input.groups?.[u] ?? '') : u);
  const m = new Map<string, WorkPatternRow & { members: Set<string> }>();
  const row = (u: string) => {
    const name = nameOf(u);
    let r = m.get(name);
    if (!r) {
      m.set(
        name,
        (r = {
          name,
          users: 0,
          members: new Set(),
          breaks: Object.fromEntries(BREAK_TYPES.map((b) => [b, emptyStats()])),
          work: Object.fromEntries(PERIOD_TYPES.map((p) => [p, emptyStats()])),
          inputHours: 0,
          keyboard: 0,
          mouse: 0,
          keyboardMouseSwitches: 0,
          keyboardPerHour: 0,
          mousePerHour: 0,
          applicationSwitches: 0,
        }),
      );
    }
    r.members.add(u);
    return r;
  };
  const addStats = (st: Record<string, PeriodStats>, key: string, s: ActivitySums) => {
    const x = (st[key] ??= emptyStats());
    x.count += s.count;
    x.totalHours += s.totalSeconds / 3600;
    x.maxHours = Math.max(x.maxHours, s.maxSeconds / 3600);
  };
  for (const s of input.sums) {
    const r = row(s.user);
    if (s.type === 'break') addStats(r.breaks, s.breakType ?? 'unknown', s);
    else if (s.type === 'work') addStats(r.work, s.periodType ?? 'unknown', s);
    else {
      r.inputHours += s.totalSeconds / 3600;
      r.keyboard += s.keyboard;
      r.mouse += s.mouse;
      r.keyboardMouseSwitches += s.switches;
    }
  }
  for (const a of input.applicationSwitches ?? []) row(a.user).applicationSwitches += a.switches;
  return [...m.values()]
    .map(({ members, ...r }) => {
      for (const st of [...Object.values(r.breaks), ...Object.values(r.work)]) st.averageHours = st.count > 0 ? st.totalHours / st.count : 0;
      return {
        ...r,
        users: members.size,
        keyboardPerHour: r.inputHours > 0 ? r.keyboard / r.inputHours : 0,
        mousePerHour: r.inputHours > 0 ? r.mouse / r.inputHours : 0,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Application switches of one user's input-events intervals in time order: each change of application counts one. */
export function countApplicationSwitches(
  rows: ReadonlyArray<{ user: string; host: string; application: string | null; start: number }>,
): Array<{ user: string; switches: number }> {
  const sorted = [...rows].sort((a, b) => a.user.localeCompare(b.user) || a.host.localeCompare(b.host) || a.start - b.start);
  const m = new Map<string, number>();
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i];
    const prev = sorted[i - 1];
    if (!m.has(r.user)) m.set(r.user, 0);
    if (prev && prev.user === r.user && prev.host === r.host && prev.application !== r.application) m.set(r.user, m.get(r.user)! + 1);
  }
  return [...m].map(([user, switches]) => ({ user, switches }));
}
