import { connect, type NetConnectOpts, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { InputCategory } from '../collectors/activity/model.js';
import { monoNow, type InputSink, type InputSource } from './sources.js';
import { openX11Display, type X11Object } from './x11.js';

/**
 * XInput2 raw events on the root window (X11): keyboard presses, button presses (4-7: wheel) and
 * pointer motion of every device, delivered whatever window has the focus or a grab. Counted by
 * category only: the events are framed and classified in the socket's read buffer
 * (XPacketSplitter, rawEventCategory); the key code, button number, axis values and device ids
 * are never copied out of it, and no object is made per event.
 *
 * Cost: the process is not woken per event. The X connection is our own socket, read through
 * `onread` so that pausing it stops reading (libuv readStop); after each read it pauses for
 * `batchMs` and the kernel keeps what the server sends meanwhile. libuv removes a stopped fd from
 * epoll only when it next becomes readable, so each pause costs one more wake-up: with 200 ms,
 * ~10 wake-ups a second while input flows, whatever the event rate; none while idle (no timer runs
 * while nothing arrives). Event times are the X server's own (in the event), mapped onto our
 * monotonic clock (ServerClock), and the first input after a quiet spell is read at once, so the
 * batching delays records, never moves a break's start or end.
 */

/** XI2 event types (XI2.h) this source selects. */
export const XI_RAW_KEY_PRESS = 13;
export const XI_RAW_BUTTON_PRESS = 15;
export const XI_RAW_MOTION = 17;
const XI_ALL_MASTER_DEVICES = 1;
/** Default pause between socket reads while input flows (see above: ~10 wake-ups/s). */
export const XI2_BATCH_MS = 200;

/**
 * The category of one XI2 raw event, from the GenericEvent bytes after the 8-byte header (what
 * the x11 client hands a GenericEvent parser: evtype at 0, time at 4, detail at 8, valuator mask
 * length at 14, mask at 24). Pure. Undefined for anything that is not counted.
 * - RawButtonPress: buttons 4-7 are wheel steps (vertical, horizontal), everything else a button;
 * - RawMotion: a move only when the X or Y axis (valuators 0 and 1) changed; a motion carrying
 *   only other axes is a smooth-scroll valuator, counted through the wheel button the server
 *   emulates for it, as a core client (and uiohook) sees it.
 */
export function rawEventCategory(buf: Buffer, off = 0): InputCategory | undefined {
  if (buf.length - off < 24) return undefined;
  switch (buf.readUInt16LE(off)) {
    case XI_RAW_KEY_PRESS:
      return 'keyboard';
    case XI_RAW_BUTTON_PRESS: {
      const button = buf.readUInt32LE(off + 8);
      return button >= 4 && button <= 7 ? 'wheel' : 'button';
    }
    case XI_RAW_MOTION:
      return buf.readUInt16LE(off + 14) > 0 && buf.length - off >= 28 && (buf.readUInt32LE(off + 24) & 0b11) !== 0 ? 'move' : undefined;
    default:
      return undefined;
  }
}

/** The X server's time stamp (32-bit milliseconds, wraps every ~49.7 days) of a raw event. */
export function rawEventTime(buf: Buffer, off = 0): number {
  return buf.readUInt32LE(off + 4);
}

/**
 * Splits the bytes the X server sends into packets, in place (no copy, no object per packet):
 * GenericEvents of the extension `opcode` go to `onEvent(buf, offset of the event body, its
 * length)`, everything else (the connection setup reply, replies, errors, other events) is handed
 * on, in order and copied, to the x11 client. Pure apart from its callbacks. Packet sizes (X11
 * protocol): the setup reply 8 + 4n bytes (n at byte 6), replies and GenericEvents 32 + 4n (n at
 * byte 4), all others 32. A packet split across reads is carried over to the next one.
 */
export class XPacketSplitter {
  opcode = -1;
  private setupDone = false;
  private carry: Buffer | undefined;

  constructor(
    private readonly onEvent: (buf: Buffer, bodyOffset: number, bodyLength: number) => void,
    private readonly passOn: (bytes: Buffer) => void,
  ) {}

  write(chunk: Buffer): void {
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    let off = 0;
    let passFrom = -1;
    for (;;) {
      const left = buf.length - off;
      let len: number;
      if (!this.setupDone) {
        if (left < 8) break;
        len = 8 + 4 * buf.readUInt16LE(off + 6);
      } else {
        if (left < 32) break;
        const type = buf[off]! & 0x7f;
        len = type === 1 || type === 35 ? 32 + 4 * buf.readUInt32LE(off + 4) : 32;
      }
      if (left < len) break;
      if (this.setupDone && (buf[off]! & 0x7f) === 35 && buf[off + 1] === this.opcode) {
        if (passFrom >= 0) this.passOn(Buffer.from(buf.subarray(passFrom, off)));
        passFrom = -1;
        this.onEvent(buf, off + 8, len - 8);
      } else if (passFrom < 0) {
        passFrom = off;
      }
      this.setupDone = true;
      off += len;
    }
    if (passFrom >= 0) this.passOn(Buffer.from(buf.subarray(passFrom, off)));
    if (off < buf.length) this.carry = Buffer.from(buf.subarray(off));
  }
}

/**
 * Maps X server time stamps onto our monotonic clock. Pure. The server's clock has its own origin
 * (and on a remote display its own rate), so the offset is learnt from reads: an event can never
 * have happened after the read that brought it, so `t = min(anchor + (x - anchorX), readAt)`, and
 * the anchor moves to (x, readAt) whenever that bound is hit. A read that came as soon as the data
 * arrived (`fresh`: not a backlog collected while the socket was paused) re-anchors on its first
 * event, so the offset follows a drifting remote clock in both directions. Differences are taken
 * modulo 2^32, so the server's wrap-around is harmless; times never go backwards.
 */
export class ServerClock {
  private anchorX = 0;
  private anchorT = Number.NaN;
  private lastT = Number.NEGATIVE_INFINITY;

  toMono(x: number, readAt: number, fresh: boolean): number {
    let t: number;
    if (fresh || Number.isNaN(this.anchorT)) {
      this.anchorX = x >>> 0;
      this.anchorT = readAt;
      t = readAt;
    } else {
      t = this.anchorT + (((x - this.anchorX) | 0) as number);
      if (t > readAt) {
        this.anchorX = x >>> 0;
        this.anchorT = readAt;
        t = readAt;
      }
    }
    if (t < this.lastT) t = this.lastT;
    this.lastT = t;
    return t;
  }
}

/** Where an X display's socket is: a Unix socket for `:N` / `unix:N`, TCP 6000+N for `host:N`. */
export function x11SocketAddress(display: string): { path: string } | { host: string; port: number } {
  const m = /^(?:(.*?)\/)?([^:/]*):(\d+)(?:\.\d+)?$/.exec(display);
  if (!m) throw new Error(`cannot parse DISPLAY ${JSON.stringify(display)}`);
  const host = m[2] ?? '';
  const n = Number(m[3]);
  if (host === '' || host === 'unix' || m[1] === 'unix') return { path: `/tmp/.X11-unix/X${n}` };
  return { host, port: 6000 + n };
}

/**
 * A socket that is read in batches: after each read it stops reading for `pauseMs` (nothing is
 * lost, the kernel keeps the data), then reads again. Exposed to the x11 client as a plain duplex
 * stream. `readAt` / `fresh` describe the chunk being delivered (see ServerClock).
 */
class PacedSocket extends Duplex {
  readAt = 0;
  fresh = true;
  reads = 0;
  readonly splitter: XPacketSplitter;
  private resumedAt = 0;
  private paused = false;
  private timer: NodeJS.Timeout | undefined;
  private pacing = false;
  private readonly socket: Socket;

  constructor(
    address: { path: string } | { host: string; port: number },
    readonly pauseMs: number,
    onEvent: (buf: Buffer, bodyOffset: number, bodyLength: number) => void,
  ) {
    super();
    this.splitter = new XPacketSplitter(onEvent, (bytes) => this.push(bytes));
    const buffer = Buffer.allocUnsafe(64 * 1024);
    this.socket = connect({
      ...address,
      onread: {
        buffer,
        callback: (n: number, buf: Uint8Array) => {
          this.onChunk(Buffer.from(buf.buffer, buf.byteOffset, n));
          return true;
        },
      },
    } as NetConnectOpts);
    this.socket.on('error', (err) => this.destroy(err));
    this.socket.on('end', () => this.push(null));
    this.socket.on('close', () => this.destroy());
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
  }

  /** Starts batching reads (after the connection setup, which needs its round trips promptly). */
  startPacing(): void {
    this.pacing = true;
  }

  /** Reads as data comes again (before a drain). */
  stopPacing(): void {
    this.pacing = false;
    // A cleared timer cannot be refresh()ed back to life: drop it, the next pause makes a new one.
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.paused) this.resumeReading();
  }

  private onChunk(chunk: Buffer): void {
    this.reads += 1;
    this.readAt = monoNow();
    // A read in the same instant as the resume is the backlog of the pause, not fresh data.
    this.fresh = this.readAt - this.resumedAt > 2;
    this.splitter.write(chunk);
    if (this.pacing && !this.destroyed) {
      this.socket.pause();
      this.paused = true;
      if (this.timer) this.timer.refresh();
      else this.timer = setTimeout(this.resumeReading, this.pauseMs);
    }
  }

  private readonly resumeReading = (): void => {
    if (this.destroyed) return;
    this.resumedAt = monoNow();
    this.paused = false;
    this.socket.resume();
  };

  override _read(): void {
    /* data is pushed as the socket delivers it */
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.socket.destroy();
    cb(err);
  }
}

export class XInput2InputSource implements InputSource {
  readonly mode = 'hooks' as const;
  readonly name = 'xinput2';
  /** Input reaches the sink up to this late (its times are still the events' own). */
  get latencyMs(): number {
    return this.batchMs;
  }
  private stream: PacedSocket | undefined;
  private client: X11Object;
  private clock = new ServerClock();
  /** Events counted (all categories), for the benchmark and tests; no per-event detail. */
  counted = 0;

  constructor(
    private readonly display: string,
    readonly batchMs = XI2_BATCH_MS,
  ) {}

  /** Reads done on the socket since start (the wake-ups the events cost). */
  get reads(): number {
    return this.stream?.reads ?? 0;
  }

  /** Server version "2.x", or throws with the reason XInput2 cannot be used. */
  async start(sink: InputSink): Promise<void> {
    // Raw events are counted straight from the read buffer: only the category and the server
    // time are read, nothing is copied or kept (no key code, button, axis or device leaves here).
    const stream = new PacedSocket(x11SocketAddress(this.display), this.batchMs, (buf, off) => {
      const category = rawEventCategory(buf, off);
      if (category === undefined) return;
      this.counted += 1;
      sink(category, this.clock.toMono(rawEventTime(buf, off), stream.readAt, stream.fresh));
      stream.fresh = false;
    });
    this.stream = stream;
    try {
      await stream.connected();
      const d = await openX11Display({ display: this.display, stream });
      const X = d.client;
      this.client = X;
      X.on('error', () => undefined);
      const xi: X11Object = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer to the XInputExtension query')), 5000);
        X.require('xinput', (err: Error | null, ext: unknown) => {
          clearTimeout(timer);
          if (err) reject(new Error(`XInputExtension unavailable: ${err.message}`));
          else resolve(ext);
        });
      });
      if (!xi.xi2 || xi.xi2.majorVersion < 2) throw new Error(`X server has XInput ${xi.serverMajor}.${xi.serverMinor}, not 2.x`);
      this.version = `${xi.xi2.majorVersion}.${xi.xi2.minorVersion}`;
      // From here on XInput's GenericEvents never reach the x11 client's parser.
      stream.splitter.opcode = xi.majorOpcode;
      const root: number = d.screen[0].root;
      xi.XISelectEvents(root, { deviceId: XI_ALL_MASTER_DEVICES, mask: [XI_RAW_KEY_PRESS, XI_RAW_BUTTON_PRESS, XI_RAW_MOTION] });
      // A round trip: the selection is in place (or its error came back) before we report success.
      await new Promise<void>((resolve) => X.GetInputFocus(() => resolve()));
      stream.startPacing();
    } catch (err) {
      this.stop();
      throw err;
    }
  }

  /** The XInput version the server agreed to (set by start). */
  version: string | undefined;

  /**
   * Delivers what the server has sent up to now: reading resumes at once and a round trip's reply
   * (which the server sends after every event before it) ends the wait. Used before the session
   * ends, so the last ~batchMs of input is not lost in the socket.
   */
  async drain(timeoutMs = 1000): Promise<void> {
    const X = this.client;
    const stream = this.stream;
    if (!X || !stream) return;
    stream.stopPacing();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      X.GetInputFocus(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    stream.startPacing();
  }

  stop(): void {
    try {
      this.client?.terminate();
    } catch {
      /* already closed */
    }
    this.stream?.destroy();
    this.stream = undefined;
    this.client = undefined;
  }
}
