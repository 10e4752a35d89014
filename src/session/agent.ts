import { homedir } from 'node:os';
import { join } from 'node:path';
import { InputCoalescer } from '../collectors/activity/coalesce.js';
import { ActivityModel, type ActivityRecord, type InputBatch, type InputCategory, type Instant } from '../collectors/activity/model.js';
import type { AgentConfig } from '../config/schema.js';
import { DaemonLink, type Notifier } from '../ipc/client.js';
import type { InputInfo } from '../ipc/protocol.js';
import { Journal, type NewRecord } from '../journal/journal.js';
import type { Logger } from '../log/logger.js';
import { LocalizedNotifier, NotifySendNotifier } from './notify.js';
import {
  DBusSessionEvents,
  HookInputSource,
  IdlePollInputSource,
  LogindIdleHint,
  X11FocusSource,
  X11ScreenSaverIdle,
  hooksUsable,
  monoNow,
  tryConnectX11,
  type FocusSource,
  type InputSource,
  type SessionEventSource,
} from './sources.js';
import type { X11Connection } from './x11.js';
import { XInput2InputSource } from './xinput2.js';

/** `auto`: XInput2 raw events on X11 when the server has XInput 2.x, else uiohook, else idle polling. */
export type InputMode = 'auto' | 'xinput2' | 'hooks' | 'idle-poll';

/**
 * A trailing batch reaches the model at most this long after its first input. Only the latency of
 * records depends on it (a break's boundaries are the inputs' own times); while input continues,
 * batches are handed over as each window closes, so this timer fires at most once a second.
 */
const FLUSH_AFTER_MS = 1000;

export interface SessionAgentOptions {
  config: AgentConfig;
  socketPath: string;
  queuePath: string;
  logger: Logger;
  input: InputMode;
  notifier?: Notifier;
}

export function defaultQueuePath(): string {
  const state = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(state, 'usage-agent', 'queue.db');
}

/**
 * `usage-agent session`: runs as the user in their graphical session. Input categories and focus
 * changes go through the pure ActivityModel; its records go to the local queue and on to the daemon.
 */
export class SessionAgent {
  private x: X11Connection | undefined;
  private input: InputSource | undefined;
  private focus: FocusSource | undefined;
  private events: SessionEventSource | undefined;
  private model!: ActivityModel;
  private queue!: Journal;
  private link!: DaemonLink;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** Hook events are counted here and reach the model once per window (see InputCoalescer). */
  private coalescer!: InputCoalescer;
  /** Flushes a trailing batch when input stops (re-armed with refresh(): no allocation). */
  private flushTimer: NodeJS.Timeout | undefined;
  private flushArmed = false;
  private inputDetail: string | undefined;
  private stopped = false;
  /** Focus changes and session events waiting for a batched source's pending inputs (in order). */
  private ordered: Promise<void> | undefined;

  constructor(private readonly o: SessionAgentOptions) {}

  private now(): Instant {
    return { t: monoNow(), wall: Date.now() };
  }

  info(): InputInfo {
    return {
      mode: this.input?.mode ?? 'none',
      source: this.input?.name ?? 'none',
      focus: this.focus?.name ?? 'none',
      sessionEvents: this.events?.name ?? 'none',
      detail: this.inputDetail,
    };
  }

  async start(): Promise<void> {
    const { config, logger } = this.o;
    this.model = new ActivityModel(config.activity, this.now());
    this.coalescer = new InputCoalescer(InputCoalescer.windowFor(config.activity.breakSeconds), (first, last, batch) => this.onBatch(first, last, batch));
    this.queue = Journal.open(this.o.queuePath, { logger });
    const shows = this.o.notifier ?? (NotifySendNotifier.available() ? new NotifySendNotifier() : undefined);
    this.link = new DaemonLink({
      socketPath: this.o.socketPath,
      queue: this.queue,
      logger,
      input: () => this.info(),
      display: process.env.DISPLAY,
      session: process.env.XDG_SESSION_ID,
      notifier: shows && new LocalizedNotifier(shows),
    });

    const { x, why } = await tryConnectX11();
    this.x = x;
    // Focus first, so the first inputs are attributed to the right application.
    if (this.x) {
      this.focus = new X11FocusSource(this.x);
      try {
        await this.focus.start((app) => {
          logger.debug({ application: app }, 'focus changed');
          this.afterPendingInput(() => {
            this.coalescer.flush();
            this.emit(this.model.focus(this.now(), app));
          });
        });
      } catch (err) {
        logger.warn({ err }, 'focused-application tracking unavailable');
        this.focus = undefined;
      }
    }
    this.input = await this.chooseInput(why);
    this.events = new DBusSessionEvents();
    await this.events.start((kind) => {
      logger.info({ event: kind }, 'session event');
      this.afterPendingInput(() => {
        this.coalescer.flush();
        this.emit(this.model.session(this.now(), kind));
      });
    });
    this.link.start();
    logger.info({ socket: this.o.socketPath, queue: this.o.queuePath, ...this.info() }, 'session agent started');
  }

  private async chooseInput(noDisplayWhy: string | undefined): Promise<InputSource | undefined> {
    const { logger, config } = this.o;
    const pollMs = Math.max(100, Math.min(1000, (config.activity.breakSeconds * 1000) / 4));
    if (this.o.input === 'auto' || this.o.input === 'xinput2') {
      const xi2 = await this.tryXInput2();
      if (xi2) return xi2;
      if (this.o.input === 'xinput2') throw new Error(this.inputDetail ?? 'XInput2 unavailable');
    }
    if (this.o.input === 'auto' || this.o.input === 'hooks') {
      const usable = await hooksUsable(this.x);
      if (usable.ok) {
        const hooks = new HookInputSource();
        try {
          await hooks.start((category) => this.onHook(category));
          return hooks;
        } catch (err) {
          // A failure here falls back rather than leaving the user unmeasured.
          this.inputDetail = join2(this.inputDetail, `hooks failed: ${(err as Error).message}`);
        }
      } else {
        this.inputDetail = join2(this.inputDetail, `hooks unavailable: ${usable.why ?? noDisplayWhy}`);
      }
      if (this.o.input === 'hooks') throw new Error(this.inputDetail ?? 'hooks unavailable');
      logger.warn({ reason: this.inputDetail }, 'falling back to idle-time polling (no keyboard/mouse split)');
    }
    // On Wayland the X server (XWayland) only sees input aimed at X clients: logind's session-wide
    // IdleHint is the better fallback there; elsewhere X's own idle counter is finer.
    const wayland = Boolean(process.env.WAYLAND_DISPLAY) || process.env.XDG_SESSION_TYPE === 'wayland';
    const logind = wayland || !this.x ? await LogindIdleHint.open() : undefined;
    const provider = logind ?? (this.x ? new X11ScreenSaverIdle(this.x) : undefined);
    if (provider) {
      if (logind) {
        this.inputDetail = `${this.inputDetail ?? ''}; idle from logind IdleHint (only breaks longer than the desktop's idle delay)`.replace(/^; /, '');
      }
      const poll = new IdlePollInputSource(provider, pollMs);
      await poll.start((category, t) => this.onInput(category, t ?? monoNow()));
      return poll;
    }
    this.inputDetail = `${this.inputDetail ?? ''}; no idle-time source (${noDisplayWhy ?? 'unknown'}; no logind session)`.replace(/^; /, '');
    logger.error({ reason: this.inputDetail }, 'no input source: breaks and work periods cannot be measured in this session');
    return undefined;
  }

  /**
   * XInput2 raw events over an X connection of their own (Linux X11, XInput 2.x; not on Wayland,
   * where XWayland only sees input aimed at X clients). Undefined, with the reason in
   * inputDetail, when the display cannot give them.
   */
  private async tryXInput2(): Promise<XInput2InputSource | undefined> {
    if (process.platform !== 'linux' || !this.x) return undefined;
    if (process.env.WAYLAND_DISPLAY || process.env.XDG_SESSION_TYPE === 'wayland') {
      this.inputDetail = 'xinput2 unavailable: Wayland session';
      return undefined;
    }
    if (!(await this.x.hasExtension('XInputExtension'))) {
      this.inputDetail = 'xinput2 unavailable: X server lacks the XInputExtension';
      return undefined;
    }
    const source = new XInput2InputSource(this.x.display);
    try {
      await source.start((category, t) => this.onHook(category, t));
      this.inputDetail = `XInput ${source.version} raw events, read every ${source.batchMs} ms while input flows`;
      return source;
    } catch (err) {
      this.inputDetail = `xinput2 unavailable: ${(err as Error).message}`;
      return undefined;
    }
  }

  /**
   * Runs `apply` (a focus change, a session event) after a batched input source (XInput2) has
   * handed over the inputs it still holds, so inputs from before the change count before it;
   * changes keep their order. Immediate for sources that deliver as they go.
   */
  private afterPendingInput(apply: () => void): void {
    if (!this.input?.drain && this.ordered === undefined) {
      apply();
      return;
    }
    const prior = this.ordered ?? Promise.resolve();
    const next = prior
      .then(() => this.input?.drain?.())
      .then(() => {
        if (!this.stopped) apply();
      })
      .catch((err: unknown) => this.o.logger.warn({ err }, 'could not apply a focus change or session event'))
      .finally(() => {
        if (this.ordered === next) this.ordered = undefined;
      });
    this.ordered = next;
  }

  /** The hook callback: O(1), allocation-free; the model sees the batch later. */
  private onHook(category: InputCategory, t?: number): void {
    if (this.coalescer.add(category, t ?? monoNow()) && !this.flushArmed) {
      this.flushArmed = true;
      if (this.flushTimer) this.flushTimer.refresh();
      else this.flushTimer = setTimeout(this.onFlushTimer, FLUSH_AFTER_MS);
    }
  }

  private readonly onFlushTimer = (): void => {
    this.flushArmed = false;
    this.coalescer.flush();
  };

  private onBatch(first: number, last: number, batch: InputBatch): void {
    const nowT = monoNow();
    const wall = Date.now() - (nowT - first);
    this.emit(this.model.inputBatch({ t: first, wall }, last, batch));
    this.link.activity(this.model.currentApplication, first, last);
  }

  /** Idle-time polling: one input at a time, at the time the OS reported. */
  private onInput(category: InputCategory, t: number): void {
    this.coalescer.flush();
    const nowT = monoNow();
    this.emit(this.model.input({ t, wall: Date.now() - (nowT - t) }, category));
    this.link.activity(this.model.currentApplication, t);
  }

  private emit(records: ActivityRecord[]): void {
    if (records.length > 0) {
      const mode = this.input?.mode ?? 'none';
      const out: NewRecord[] = records.map((r) => {
        const rec: NewRecord = { ...r, inputSource: mode };
        // Idle polling cannot count keyboard/mouse events: say "unknown" rather than zero.
        if (mode === 'idle-poll' && r.type !== 'break') {
          rec.keyboard = null;
          rec.mouse = null;
          rec.switch = null;
          delete rec.mouseButtons;
          delete rec.mouseWheel;
          delete rec.mouseMoves;
          if (r.type === 'work') rec.applications = r.applications.map((a) => ({ application: a.application }));
        }
        return rec;
      });
      this.link.enqueue(out);
    }
    this.schedule();
  }

  /** One timer for the model's next deadline; rescheduled only when it must move earlier. */
  private schedule(): void {
    if (this.stopped) return;
    const next = this.model.nextDeadline();
    if (next === undefined || next >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        // The model may be behind the coalescer: the flush can move the deadline later, which
        // schedule() (via emit) then re-arms.
        this.coalescer.flush();
        this.emit(this.model.advance(this.now()));
        // A batched source may still hold inputs from before the deadline: wait for them.
      },
      Math.max(0, next - monoNow()) + 5 + (this.input?.latencyMs ?? 0),
    );
  }

  /** Ends the session: closes the model's periods, queues them and tries to hand them over. */
  async stop(reason: string): Promise<void> {
    if (this.stopped) return;
    this.o.logger.info({ reason }, 'session agent stopping');
    await this.input?.drain?.();
    await this.ordered;
    this.input?.stop();
    this.focus?.stop();
    this.events?.stop();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.coalescer.flush();
    this.emit(this.model.finish(this.now()));
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const delivered = await this.link.drain(3000);
    if (!delivered) this.o.logger.warn({ pending: this.link.pending() }, 'daemon not reachable; records stay queued for the next session');
    this.link.stop();
    this.x?.close();
    this.queue.close();
  }
}

/** "a; b" without a leading separator when a is empty. */
function join2(a: string | undefined, b: string): string {
  return a ? `${a}; ${b}` : b;
}
