/**
 * The work/break model: a pure, deterministic state machine over a timestamped stream of input
 * categories, focus changes and session events. No I/O, no clock reads, no timers: every call
 * carries its own time, so the same stream always yields the same records (see README.md).
 *
 * Time: `t` is a monotonic millisecond clock (never goes back, does not advance while the machine
 * is suspended); every durations and every decision uses it. `wall` (epoch ms) is used only to
 * print record timestamps: wall(t) = anchor.wall + (t - anchor.t), and the anchor is re-taken when
 * the wall clock jumps (NTP step, manual change, resume from suspend), so printed start/end/duration
 * always agree with each other and with the most recent wall clock.
 *
 * Its inputs, thresholds and records are in ./types.ts.
 */
import {
  DEFAULT_THRESHOLDS,
  type ActivityRecord,
  type ActivityThresholds,
  type BreakType,
  type EndReason,
  type InputCategory,
  type InputCounts,
  type Instant,
  type PeriodType,
  type SessionEventKind,
} from './types.js';

/** The model's vocabulary (inputs, thresholds, the records it writes), for callers that import the model. */
export * from './types.js';

interface Counts extends InputCounts {
  mouseButtons: number;
  mouseWheel: number;
  mouseMoves: number;
}

interface Period {
  start: number;
  end: number;
  total: Counts;
  apps: Map<string | null, Counts>;
}

type InputClass = 'keyboard' | 'mouse' | 'unknown';

/** Returned (never mutated) when a call produces nothing, so idle calls allocate no array. */
const NONE = Object.freeze([]) as unknown as ActivityRecord[];

/** How far the wall clock may wander from the monotonic one before we call it a jump. */
const CLOCK_JUMP_TOLERANCE_MS = 1000;

function emptyCounts(): Counts {
  return { keyboard: 0, mouse: 0, switch: 0, mouseButtons: 0, mouseWheel: 0, mouseMoves: 0 };
}

function classOf(category: InputCategory): InputClass {
  if (category === 'keyboard') return 'keyboard';
  if (category === 'unknown') return 'unknown';
  return 'mouse';
}

function addTo(c: Counts, category: InputCategory, isSwitch: boolean): void {
  switch (category) {
    case 'keyboard':
      c.keyboard += 1;
      break;
    case 'button':
      c.mouse += 1;
      c.mouseButtons += 1;
      break;
    case 'wheel':
      c.mouse += 1;
      c.mouseWheel += 1;
      break;
    case 'move':
      c.mouse += 1;
      c.mouseMoves += 1;
      break;
    case 'unknown':
      break;
  }
  if (isSwitch) c.switch += 1;
}

function addCounts(to: Counts, c: Counts): void {
  to.keyboard += c.keyboard;
  to.mouse += c.mouse;
  to.switch += c.switch;
  to.mouseButtons += c.mouseButtons;
  to.mouseWheel += c.mouseWheel;
  to.mouseMoves += c.mouseMoves;
}

/** Coalesced inputs (see ActivityModel.inputBatch and InputCoalescer). */
export interface InputBatch {
  events: number;
  firstCategory: InputCategory;
  lastCategory: InputCategory;
  keyboard: number;
  buttons: number;
  wheel: number;
  moves: number;
  /** Keyboard<->mouse changes between consecutive inputs of the batch. */
  switches: number;
}

function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}

export class ActivityModel {
  private readonly breakMs: number;
  private readonly microMaxMs: number;
  private readonly shortMaxMs: number;
  private readonly intervalMs: number;

  private anchor: Instant;
  private readonly startedAt: number;
  private now: number;
  private state: 'active' | 'locked' | 'suspended' | 'ended' = 'active';
  private application: string | null = null;
  private last: { t: number; cls: InputClass; application: string | null } | undefined;
  private uninterrupted: Period | undefined;
  private extended: Period | undefined;
  private intervalStart: number;
  private intervalEnd: number;
  private intervalApps = new Map<string | null, Counts>();
  private out: ActivityRecord[] = [];
  private readonly scratch: Counts = emptyCounts();

  /** Counters for status(): how much the model has seen. */
  readonly stats = { inputs: 0, ignoredWhileInactive: 0, clockJumps: 0, focusChanges: 0 };

  constructor(thresholds: Partial<ActivityThresholds>, start: Instant, application: string | null = null) {
    const th = { ...DEFAULT_THRESHOLDS, ...thresholds };
    this.breakMs = th.breakSeconds * 1000;
    this.microMaxMs = th.microBreakMaxSeconds * 1000;
    this.shortMaxMs = th.shortBreakMaxSeconds * 1000;
    this.intervalMs = th.inputEventIntervalSeconds * 1000;
    if (!(this.breakMs <= this.microMaxMs && this.microMaxMs <= this.shortMaxMs)) {
      throw new Error('activity thresholds must satisfy breakSeconds <= microBreakMaxSeconds <= shortBreakMaxSeconds');
    }
    this.anchor = { ...start };
    this.startedAt = start.t;
    this.now = start.t;
    this.application = application;
    // Intervals are aligned to the wall clock (e.g. whole minutes) so hosts' records line up.
    const intoInterval = ((start.wall % this.intervalMs) + this.intervalMs) % this.intervalMs;
    this.intervalStart = start.t - intoInterval;
    this.intervalEnd = this.intervalStart + this.intervalMs;
  }

  /** One keyboard or mouse event. Only the category and the time: never what was typed or where. */
  input(at: Instant, category: InputCategory): ActivityRecord[] {
    const t = this.enter(at);
    const c = this.scratch;
    c.keyboard = c.mouse = c.switch = c.mouseButtons = c.mouseWheel = c.mouseMoves = 0;
    addTo(c, category, false);
    const cls = classOf(category);
    this.addInputs(t, t, cls, cls, c, 1);
    return this.drain();
  }

  /**
   * Several inputs at once, as the session agent coalesces them (see InputCoalescer): the first at
   * `first`, the last at `lastT` (monotonic ms), and their counts; `counts.switch` holds the
   * switches *between* them. Equivalent to feeding them one by one provided no gap inside the batch
   * reaches breakSeconds (the coalescer guarantees its window is shorter), except that an
   * input-events interval boundary falling inside the batch attributes the whole batch to the
   * interval of its first input.
   */
  inputBatch(first: Instant, lastT: number, b: InputBatch): ActivityRecord[] {
    if (b.events <= 0) return [];
    const t = this.enter(first);
    const c = this.scratch;
    c.keyboard = b.keyboard;
    c.mouseButtons = b.buttons;
    c.mouseWheel = b.wheel;
    c.mouseMoves = b.moves;
    c.mouse = b.buttons + b.wheel + b.moves;
    c.switch = b.switches;
    this.addInputs(t, Math.max(t, lastT), classOf(b.firstCategory), classOf(b.lastCategory), c, b.events);
    return this.drain();
  }

  private addInputs(t: number, lastT: number, firstCls: InputClass, lastCls: InputClass, c: Counts, n: number): void {
    if (this.state !== 'active') {
      this.stats.ignoredWhileInactive += n;
      return;
    }
    this.stats.inputs += n;
    let isSwitch = false;
    if (this.last) {
      const gap = t - this.last.t;
      if (gap >= this.breakMs) this.emitBreak(this.last.t, t, 'input');
      else isSwitch = firstCls !== 'unknown' && this.last.cls !== 'unknown' && firstCls !== this.last.cls;
    }
    if (isSwitch) c.switch += 1;
    this.uninterrupted ??= { start: t, end: t, total: emptyCounts(), apps: new Map() };
    this.extended ??= { start: t, end: t, total: emptyCounts(), apps: new Map() };
    this.uninterrupted.end = lastT;
    this.extended.end = lastT;
    addCounts(this.uninterrupted.total, c);
    addCounts(countsFor(this.uninterrupted.apps, this.application), c);
    addCounts(this.extended.total, c);
    addCounts(countsFor(this.extended.apps, this.application), c);
    addCounts(countsFor(this.intervalApps, this.application), c);
    if (this.last) {
      this.last.t = lastT;
      this.last.cls = lastCls;
      this.last.application = this.application;
    } else {
      this.last = { t: lastT, cls: lastCls, application: this.application };
    }
    if (lastT > this.now) {
      // Interval ends inside the batch (never a period end: those are >= lastT + breakSeconds).
      this.runDeadlines(lastT);
      this.now = lastT;
    }
  }

  /** The focused application changed (executable path, or null when unknown). */
  focus(at: Instant, application: string | null): ActivityRecord[] {
    this.enter(at);
    if (application !== this.application) this.stats.focusChanges += 1;
    this.application = application;
    return this.drain();
  }

  /** Lock, suspend and session end close the current break and periods at `at`; unlock/resume reopen. */
  session(at: Instant, kind: SessionEventKind): ActivityRecord[] {
    const t = this.enter(at);
    if (kind === 'unlock' || kind === 'resume') {
      if (this.state !== 'ended') this.state = 'active';
      return this.drain();
    }
    if (this.state === 'ended') return this.drain();
    const reason: EndReason = kind === 'session-end' ? 'session-end' : kind;
    if (this.state === 'active') this.closeAll(t, reason);
    if (kind === 'session-end') {
      this.flushInterval(t);
      this.state = 'ended';
    } else {
      this.state = kind === 'lock' ? 'locked' : 'suspended';
    }
    return this.drain();
  }

  /** Lets time pass: closes periods and intervals whose end is now known. Call at nextDeadline(). */
  advance(at: Instant): ActivityRecord[] {
    this.enter(at);
    return this.drain();
  }

  /** Ends the model (agent stopping): like a session end. */
  finish(at: Instant): ActivityRecord[] {
    return this.session(at, 'session-end');
  }

  /** The monotonic time at which advance() would next produce something, if any. */
  nextDeadline(): number | undefined {
    if (this.state === 'ended') return undefined;
    let next = this.intervalApps.size > 0 ? this.intervalEnd : Infinity;
    if (this.last && this.uninterrupted) next = Math.min(next, this.last.t + this.microMaxMs);
    if (this.last && this.extended) next = Math.min(next, this.last.t + this.shortMaxMs);
    return next === Infinity ? undefined : next;
  }

  get currentState(): 'active' | 'locked' | 'suspended' | 'ended' {
    return this.state;
  }

  get currentApplication(): string | null {
    return this.application;
  }

  /** Wall-clock ISO time of a monotonic instant, using the latest anchor. */
  iso(t: number): string {
    return new Date(Math.round(this.anchor.wall + (t - this.anchor.t))).toISOString();
  }

  // ---------------------------------------------------------------------------------------------

  /** Accepts a new instant: clamps monotonic time, re-anchors on a wall-clock jump, runs deadlines. */
  private enter(at: Instant): number {
    const t = Math.max(at.t, this.now);
    const expected = this.anchor.wall + (t - this.anchor.t);
    if (Math.abs(at.wall - expected) > CLOCK_JUMP_TOLERANCE_MS) {
      this.anchor = { t, wall: at.wall };
      this.stats.clockJumps += 1;
    }
    this.runDeadlines(t);
    this.now = t;
    return t;
  }

  /** Processes every deadline <= t in time order (interval ends, period ends). */
  private runDeadlines(t: number): void {
    if (this.state === 'ended') return;
    for (;;) {
      const intervalDue = this.intervalEnd <= t ? this.intervalEnd : Infinity;
      const unintDue = this.last && this.uninterrupted ? this.last.t + this.microMaxMs : Infinity;
      const extDue = this.last && this.extended ? this.last.t + this.shortMaxMs : Infinity;
      const next = Math.min(intervalDue, unintDue <= t ? unintDue : Infinity, extDue <= t ? extDue : Infinity);
      if (next === Infinity) return;
      if (next === unintDue) {
        this.emitPeriod('uninterrupted', this.uninterrupted!, 'break');
        this.uninterrupted = undefined;
      } else if (next === extDue) {
        this.emitPeriod('extended', this.extended!, 'break');
        this.extended = undefined;
      } else {
        this.flushInterval(this.intervalEnd);
        // Skip empty intervals in one step rather than looping through a long idle stretch.
        const skip = Math.max(1, Math.floor((t - this.intervalStart) / this.intervalMs));
        this.intervalStart += skip * this.intervalMs;
        this.intervalEnd = this.intervalStart + this.intervalMs;
      }
    }
  }

  private closeAll(t: number, reason: EndReason): void {
    if (this.last && t - this.last.t >= this.breakMs) this.emitBreak(this.last.t, t, reason);
    if (this.uninterrupted) this.emitPeriod('uninterrupted', this.uninterrupted, reason);
    if (this.extended) this.emitPeriod('extended', this.extended, reason);
    this.uninterrupted = undefined;
    this.extended = undefined;
    this.last = undefined;
  }

  private emitBreak(start: number, end: number, reason: EndReason): void {
    const d = end - start;
    const breakType: BreakType = d < this.microMaxMs ? 'microbreak' : d < this.shortMaxMs ? 'short' : 'extended';
    this.out.push({
      type: 'break',
      time: this.iso(start),
      start: this.iso(start),
      end: this.iso(end),
      durationSeconds: seconds(d),
      breakType,
      application: this.last?.application ?? null,
      endReason: reason,
    });
  }

  private emitPeriod(periodType: PeriodType, p: Period, reason: EndReason): void {
    const applications = [...p.apps.entries()]
      .map(([application, c]) => ({ application, keyboard: c.keyboard, mouse: c.mouse, switch: c.switch }))
      .sort((a, b) => b.keyboard + b.mouse - (a.keyboard + a.mouse) || String(a.application).localeCompare(String(b.application)));
    this.out.push({
      type: 'work',
      time: this.iso(p.start),
      start: this.iso(p.start),
      end: this.iso(p.end),
      durationSeconds: seconds(p.end - p.start),
      periodType,
      application: applications[0]?.application ?? null,
      keyboard: p.total.keyboard,
      mouse: p.total.mouse,
      switch: p.total.switch,
      applications,
      endReason: reason,
    });
  }

  private flushInterval(end: number): void {
    const start = Math.max(this.intervalStart, this.startedAt);
    const entries = [...this.intervalApps.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    for (const [application, c] of entries) {
      this.out.push({
        type: 'input-events',
        time: this.iso(start),
        start: this.iso(start),
        end: this.iso(end),
        durationSeconds: seconds(end - start),
        application,
        keyboard: c.keyboard,
        mouse: c.mouse,
        switch: c.switch,
        mouseButtons: c.mouseButtons,
        mouseWheel: c.mouseWheel,
        mouseMoves: c.mouseMoves,
      });
    }
    this.intervalApps = new Map();
  }

  private drain(): ActivityRecord[] {
    if (this.out.length === 0) return NONE;
    const out = this.out;
    this.out = [];
    return out;
  }
}

function countsFor(map: Map<string | null, Counts>, key: string | null): Counts {
  let c = map.get(key);
  if (!c) {
    c = emptyCounts();
    map.set(key, c);
  }
  return c;
}

/** A whole stream through a fresh model, for tests and replay tools. */
export type StreamEvent =
  | { kind: 'input'; t: number; wall?: number; category: InputCategory }
  | { kind: 'focus'; t: number; wall?: number; application: string | null }
  | { kind: 'session'; t: number; wall?: number; event: SessionEventKind }
  | { kind: 'advance'; t: number; wall?: number };

/**
 * Runs a stream through a fresh model and finishes it at `endAt`. `wall` defaults to
 * `wallOrigin + t` (no clock jump).
 */
export function runStream(
  thresholds: Partial<ActivityThresholds>,
  events: StreamEvent[],
  options: { wallOrigin?: number; startT?: number; endAt?: Instant | number; application?: string | null } = {},
): ActivityRecord[] {
  const origin = options.wallOrigin ?? Date.UTC(2026, 0, 5, 9, 0, 0);
  const startT = options.startT ?? 0;
  const model = new ActivityModel(thresholds, { t: startT, wall: origin + startT }, options.application ?? null);
  const at = (e: { t: number; wall?: number }): Instant => ({ t: e.t, wall: e.wall ?? origin + e.t });
  const out: ActivityRecord[] = [];
  for (const e of events) {
    if (e.kind === 'input') out.push(...model.input(at(e), e.category));
    else if (e.kind === 'focus') out.push(...model.focus(at(e), e.application));
    else if (e.kind === 'session') out.push(...model.session(at(e), e.event));
    else out.push(...model.advance(at(e)));
  }
  if (options.endAt !== undefined) {
    const end = typeof options.endAt === 'number' ? { t: options.endAt, wall: origin + options.endAt } : options.endAt;
    out.push(...model.finish(end));
  }
  return out;
}
