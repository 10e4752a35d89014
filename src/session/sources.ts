import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { InputCategory, SessionEventKind } from '../collectors/activity/model.js';
import { connectX11, executableOf, windowPid, XA_WINDOW, type X11Connection } from './x11.js';

/** performance.now() runs on the same clock as hrtime (uv_hrtime, CLOCK_MONOTONIC), from an origin. */
const MONO_OFFSET = Number(process.hrtime.bigint()) / 1e6 - performance.now();

/**
 * Monotonic milliseconds (CLOCK_MONOTONIC on Linux: comparable with logind's *Monotonic stamps).
 * Through performance.now(): no BigInt per call, it runs in every hook callback.
 */
export function monoNow(): number {
  return performance.now() + MONO_OFFSET;
}

/** Receives one input: its category and (optionally) when it happened on the monotonic clock. */
export type InputSink = (category: InputCategory, t?: number) => void;

/** Keyboard/mouse activity, from hooks or from polling the OS idle time. */
export interface InputSource {
  readonly mode: 'hooks' | 'idle-poll';
  readonly name: string;
  /** How late an input may reach the sink after it happened (batched sources); 0 when absent. */
  readonly latencyMs?: number;
  start(sink: InputSink): Promise<void>;
  /** Hands over every input that happened before the call (batched sources), before stop(). */
  drain?(): Promise<void>;
  stop(): void;
}

// --- hooks -------------------------------------------------------------------------------------

/** uiohook's native event types (its EventType enum) -> our category; anything else is ignored. */
const CATEGORY_BY_EVENT_TYPE: ReadonlyArray<InputCategory | undefined> = (() => {
  const table: Array<InputCategory | undefined> = [];
  table[4] = 'keyboard'; // EVENT_KEY_PRESSED
  table[7] = 'button'; // EVENT_MOUSE_PRESSED
  table[9] = 'move'; // EVENT_MOUSE_MOVED (the addon also maps drags to it)
  table[11] = 'wheel'; // EVENT_MOUSE_WHEEL
  return table;
})();

interface UiohookBinding {
  start(handler: (event: { type: number }) => void): void;
  stop(): void;
}

/**
 * uiohook-napi's native addon itself, loaded the way its own index does (node-gyp-build on the
 * package root). Its JS wrapper emits every event twice through an EventEmitter ('input' and the
 * per-type name); calling the addon directly takes about a fifth off the main thread's cost per
 * event (measured with an xdotool move storm: 72 vs 90 us per event). Undefined when the layout is
 * not what we expect, and the caller uses the public API instead.
 */
function loadUiohookBinding(): UiohookBinding | undefined {
  try {
    const req = createRequire(import.meta.url);
    const pkgJson = req.resolve('uiohook-napi/package.json');
    const binding = createRequire(pkgJson)('node-gyp-build')(dirname(pkgJson)) as Partial<UiohookBinding>;
    return typeof binding.start === 'function' && typeof binding.stop === 'function' ? (binding as UiohookBinding) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Global hooks through uiohook-napi (X11 RECORD on Linux, low-level hooks on Windows, event taps on
 * macOS). Loaded lazily, only here: it links libX11/libXtst and the daemon must never load it.
 * Only the event's type is read in the callback, and only a category leaves it; the rest of the
 * event object (key code, coordinates) is never read, kept or passed on.
 */
export class HookInputSource implements InputSource {
  readonly mode = 'hooks' as const;
  readonly name = 'uiohook';
  private stopHook: (() => void) | undefined;

  /** `emitter` forces uiohook-napi's public EventEmitter API (the fallback; tests compare both). */
  constructor(private readonly via: 'binding' | 'emitter' = 'binding') {}

  async start(sink: InputSink): Promise<void> {
    const binding = this.via === 'binding' ? loadUiohookBinding() : undefined;
    if (binding) {
      binding.start((event) => {
        const category = CATEGORY_BY_EVENT_TYPE[event.type];
        if (category !== undefined) sink(category);
      });
      this.stopHook = () => binding.stop();
      return;
    }
    const mod = (await import('uiohook-napi')) as unknown as {
      uIOhook: { on(event: string, fn: () => void): void; start(): void; stop(): void; removeAllListeners(): void };
    };
    const hook = mod.uIOhook;
    hook.on('keydown', () => sink('keyboard'));
    hook.on('mousedown', () => sink('button'));
    hook.on('wheel', () => sink('wheel'));
    hook.on('mousemove', () => sink('move'));
    hook.start();
    this.stopHook = () => {
      hook.stop();
      hook.removeAllListeners();
    };
  }

  stop(): void {
    if (!this.stopHook) return;
    try {
      this.stopHook();
    } catch {
      /* already stopped */
    }
    this.stopHook = undefined;
  }
}

/** Before loading uiohook on X11: it aborts the process (not an exception) without a display or RECORD. */
export async function hooksUsable(x: X11Connection | undefined): Promise<{ ok: boolean; why?: string }> {
  if (process.platform !== 'linux') return { ok: true };
  if (process.env.WAYLAND_DISPLAY || process.env.XDG_SESSION_TYPE === 'wayland') {
    return { ok: false, why: 'Wayland session: global hooks only see X11 clients' };
  }
  if (!x) return { ok: false, why: 'no X display' };
  if (!(await x.hasExtension('RECORD'))) return { ok: false, why: 'X server lacks the RECORD extension' };
  return { ok: true };
}

// --- idle polling ------------------------------------------------------------------------------

/** Milliseconds since the last input of any kind, as the OS reports it. */
export interface IdleProvider {
  readonly name: string;
  idleMs(): Promise<number | undefined>;
  stop?(): void;
}

export class X11ScreenSaverIdle implements IdleProvider {
  readonly name = 'x11-screensaver';
  constructor(private readonly x: X11Connection) {}
  idleMs(): Promise<number | undefined> {
    return this.x.idleMs();
  }
}

/** logind's idle state of a session, from `gdbus call ... GetAll` or a PropertiesChanged line. Pure. */
export function parseIdleHint(text: string): { idle: boolean; sinceMonotonicUs?: number } | undefined {
  const hint = /'IdleHint': <(true|false)>/.exec(text);
  if (!hint) return undefined;
  const since = /'IdleSinceHintMonotonic': <(?:uint64 )?(\d+)>/.exec(text);
  return { idle: hint[1] === 'true', sinceMonotonicUs: since ? Number(since[1]) : undefined };
}

/** Runs a command to completion and returns its stdout (undefined on failure or after timeoutMs). */
function capture(cmd: string, args: string[], timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: timeoutMs });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => resolve(code === 0 ? out : undefined));
  });
}

/**
 * logind's IdleHint for this session (Wayland without XWayland, or anywhere X is unusable): the
 * desktop (gnome-session, KDE's powerdevil, swayidle, ...) sets it when the session has been idle
 * for its own idle delay, and logind stamps when. One `gdbus call` at start, then one long-running
 * `gdbus monitor` for PropertiesChanged: no process per poll. As an IdleProvider: idle time 0 while
 * the hint is false (the session counts as in use), now - IdleSinceHintMonotonic while it is true.
 * Coarse by nature: breaks shorter than the desktop's idle delay are invisible, and a break starts
 * when the desktop declared the session idle, not at the last input.
 */
export class LogindIdleHint implements IdleProvider {
  readonly name = 'logind-idlehint';
  private idle = false;
  private sinceMs = 0;
  private monitor: ChildProcess | undefined;

  private constructor(
    readonly sessionPath: string,
    private readonly now: () => number,
  ) {}

  /** Undefined when there is no logind session to follow (no system bus, no logind, not in a session). */
  static async open(now: () => number = monoNow): Promise<LogindIdleHint | undefined> {
    const id = process.env.XDG_SESSION_ID;
    const askPath = `/org/freedesktop/login1/session/${id ? busLabelEscape(id) : 'auto'}`;
    const props = await capture(
      'gdbus',
      [
        'call',
        '--system',
        '--dest',
        'org.freedesktop.login1',
        '--object-path',
        askPath,
        '--method',
        'org.freedesktop.DBus.Properties.GetAll',
        'org.freedesktop.login1.Session',
      ],
      5000,
    );
    const state = props ? parseIdleHint(props) : undefined;
    if (!props || !state) return undefined;
    const sessionId = id ?? /'Id': <'([^']+)'>/.exec(props)?.[1];
    if (!sessionId) return undefined;
    const hint = new LogindIdleHint(`/org/freedesktop/login1/session/${busLabelEscape(sessionId)}`, now);
    hint.apply(state);
    hint.follow();
    return hint;
  }

  private apply(state: { idle: boolean; sinceMonotonicUs?: number }): void {
    this.idle = state.idle;
    // logind's stamp is CLOCK_MONOTONIC in microseconds, the clock monoNow() reads.
    this.sinceMs = state.sinceMonotonicUs ? state.sinceMonotonicUs / 1000 : this.now();
  }

  private follow(): void {
    const child = spawn('gdbus', ['monitor', '--system', '--dest', 'org.freedesktop.login1', '--object-path', this.sessionPath], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.includes('PropertiesChanged')) continue;
        const state = parseIdleHint(line);
        if (state) this.apply(state);
      }
    });
    child.on('error', () => undefined);
    this.monitor = child;
  }

  async idleMs(): Promise<number | undefined> {
    return this.idle ? Math.max(0, this.now() - this.sinceMs) : 0;
  }

  stop(): void {
    this.monitor?.kill();
    this.monitor = undefined;
  }
}

/**
 * Windows GetLastInputInfo / macOS IOKit HIDIdleTime: the native call is injected (a future
 * native binding), so the polling logic is shared and tested here with a stand-in function.
 */
export class NativeIdleProvider implements IdleProvider {
  constructor(
    readonly name: 'windows-getlastinputinfo' | 'macos-hididletime',
    private readonly query: () => number | Promise<number>,
  ) {}
  async idleMs(): Promise<number | undefined> {
    return this.query();
  }
}

/**
 * The fallback: polls the idle time and reports an input at (now - idle) whenever it moved. It
 * cannot tell keyboard from mouse (category `unknown`) nor count events, and inputs closer together
 * than the poll interval merge; breaks and work periods longer than the interval are exact.
 */
export class IdlePollInputSource implements InputSource {
  readonly mode = 'idle-poll' as const;
  private timer: NodeJS.Timeout | undefined;
  private lastInput: number | undefined;
  private busy = false;

  constructor(
    private readonly provider: IdleProvider,
    readonly pollMs: number,
    private readonly now: () => number = monoNow,
  ) {}

  get name(): string {
    return this.provider.name;
  }

  async start(sink: InputSink): Promise<void> {
    await this.poll(sink, true);
    this.timer = setInterval(() => void this.poll(sink, false), this.pollMs);
  }

  /** One poll; exposed for tests with a stand-in provider and clock. */
  async poll(sink: InputSink, first: boolean): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const idle = await this.provider.idleMs();
      if (idle === undefined) return;
      const t = this.now();
      const last = t - idle;
      // Clock and reply jitter: only a move by more than a few ms is new input.
      if (this.lastInput === undefined) {
        this.lastInput = last;
        if (!first || idle < this.pollMs) sink('unknown', last);
      } else if (last > this.lastInput + 20) {
        this.lastInput = last;
        sink('unknown', last);
      }
    } finally {
      this.busy = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.provider.stop?.();
  }
}

// --- focus ---------------------------------------------------------------------------------------

export interface FocusSource {
  readonly name: string;
  start(onChange: (application: string | null) => void): Promise<void>;
  stop(): void;
}

/**
 * The focused window's executable on X11. With an EWMH window manager it subscribes to
 * PropertyNotify on the root window and looks up only when _NET_ACTIVE_WINDOW changes; without
 * one (no _NET_ACTIVE_WINDOW) it polls GetInputFocus, one X round trip per second, no process.
 */
export class X11FocusSource implements FocusSource {
  name = 'x11';
  private timer: NodeJS.Timeout | undefined;
  private lastWindow = -1;
  private lastApp: string | null | undefined;
  private looking = false;
  private again = false;

  constructor(
    private readonly x: X11Connection,
    private readonly pollMs = 1000,
  ) {}

  async start(onChange: (application: string | null) => void): Promise<void> {
    const active = await this.x.atom('_NET_ACTIVE_WINDOW');
    const pidAtom = await this.x.atom('_NET_WM_PID');
    const check = await this.x.atom('_NET_SUPPORTING_WM_CHECK');
    const ewmh = (await this.x.property32(this.x.root, check, XA_WINDOW)) !== undefined;
    const lookup = async () => {
      if (this.looking) {
        this.again = true;
        return;
      }
      this.looking = true;
      try {
        do {
          this.again = false;
          let window = ewmh ? ((await this.x.property32(this.x.root, active, XA_WINDOW)) ?? 0) : 0;
          if (!window) window = await this.x.inputFocus();
          if (window === this.lastWindow && this.lastApp !== undefined) continue;
          this.lastWindow = window;
          const pid = window > 1 ? await windowPid(this.x, window, pidAtom) : undefined;
          const app = pid ? executableOf(pid) : null;
          if (app !== this.lastApp) {
            this.lastApp = app;
            onChange(app);
          }
        } while (this.again);
      } finally {
        this.looking = false;
      }
    };
    if (ewmh) {
      this.name = 'x11-ewmh-propertynotify';
      this.x.watchRootProperty((atom) => {
        if (atom === active) void lookup();
      });
    } else {
      this.name = 'x11-getinputfocus-poll';
      this.timer = setInterval(() => void lookup(), this.pollMs);
    }
    await lookup();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

// --- session events ------------------------------------------------------------------------------

export interface SessionEventSource {
  readonly name: string;
  start(on: (kind: SessionEventKind) => void): Promise<void>;
  stop(): void;
}

/** systemd's bus label escaping, for the session object path of XDG_SESSION_ID. */
export function busLabelEscape(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (/[A-Za-z]/.test(c) || (i > 0 && /[0-9]/.test(c))) out += c;
    else out += `_${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  }
  return out;
}

/**
 * Parses `gdbus monitor` output for logind's PrepareForSleep (suspend/resume) and the session's
 * Lock/Unlock, and the freedesktop ScreenSaver's ActiveChanged. Pure, for tests.
 */
export function parseMonitorLine(line: string, sessionPath: string | undefined): SessionEventKind | undefined {
  if (line.includes('org.freedesktop.login1.Manager.PrepareForSleep')) {
    if (/\(true,?\)/.test(line)) return 'suspend';
    if (/\(false,?\)/.test(line)) return 'resume';
  }
  const m = /^(\S+): org\.freedesktop\.login1\.Session\.(Lock|Unlock) /.exec(line);
  if (m && (!sessionPath || m[1] === sessionPath)) return m[2] === 'Lock' ? 'lock' : 'unlock';
  if (line.includes('org.freedesktop.ScreenSaver.ActiveChanged')) {
    if (/\(true,?\)/.test(line)) return 'lock';
    if (/\(false,?\)/.test(line)) return 'unlock';
  }
  return undefined;
}

/**
 * One long-running `gdbus monitor` per bus (not a process per event): logind on the system bus
 * (suspend/resume, lock/unlock of this session) and the screensaver on the session bus.
 */
export class DBusSessionEvents implements SessionEventSource {
  private children: ChildProcess[] = [];
  private watching: string[] = [];

  get name(): string {
    return this.watching.length > 0 ? `dbus (${this.watching.join(', ')})` : 'none';
  }

  async start(on: (kind: SessionEventKind) => void): Promise<void> {
    const sessionId = process.env.XDG_SESSION_ID;
    const sessionPath = sessionId ? `/org/freedesktop/login1/session/${busLabelEscape(sessionId)}` : undefined;
    const watch = (args: string[], label: string) =>
      new Promise<void>((resolve) => {
        const child = spawn('gdbus', ['monitor', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
        let buf = '';
        let settled = false;
        const done = () => {
          if (!settled) {
            settled = true;
            resolve();
          }
        };
        child.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          if (!settled && buf.length > 0) {
            this.watching.push(label);
            this.children.push(child);
            done();
          }
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const kind = parseMonitorLine(buf.slice(0, nl), sessionPath);
            buf = buf.slice(nl + 1);
            if (kind) on(kind);
          }
        });
        child.on('error', done);
        child.on('exit', done);
        setTimeout(done, 2000).unref();
      });
    await Promise.all([
      watch(['--system', '--dest', 'org.freedesktop.login1'], 'logind'),
      process.env.DBUS_SESSION_BUS_ADDRESS ? watch(['--session', '--dest', 'org.freedesktop.ScreenSaver'], 'screensaver') : Promise.resolve(),
    ]);
  }

  stop(): void {
    for (const c of this.children) c.kill();
    this.children = [];
  }
}

/** Opens the X connection when there is a display; undefined otherwise (headless, Wayland-only). */
export async function tryConnectX11(): Promise<{ x?: X11Connection; why?: string }> {
  if (!process.env.DISPLAY) return { why: 'no DISPLAY' };
  try {
    return { x: await connectX11(process.env.DISPLAY) };
  } catch (err) {
    return { why: `cannot open X display ${process.env.DISPLAY}: ${(err as Error).message}` };
  }
}
