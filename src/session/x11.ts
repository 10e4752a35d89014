import { readFileSync, readlinkSync } from 'node:fs';

/**
 * A small typed wrapper over the pure-JS `x11` client: one connection per session agent, used for
 * the focused window's process (_NET_ACTIVE_WINDOW -> _NET_WM_PID -> /proc/PID/exe), the
 * MIT-SCREEN-SAVER idle time (the fallback input source) and the RECORD extension probe (uiohook
 * aborts the whole process when it cannot use RECORD, so it is checked before loading it).
 */
export interface X11Connection {
  display: string;
  root: number;
  hasExtension(name: string): Promise<boolean>;
  atom(name: string): Promise<number>;
  /** First 32-bit value of a property, or undefined when it is not set. */
  property32(window: number, property: number, type: number): Promise<number | undefined>;
  inputFocus(): Promise<number>;
  parent(window: number): Promise<number | undefined>;
  /** PID of the local client owning a window, from the X-Resource extension (the server knows it). */
  clientPid(window: number): Promise<number | undefined>;
  /** Milliseconds since the last input, from MIT-SCREEN-SAVER; undefined when unavailable. */
  idleMs(): Promise<number | undefined>;
  watchRootProperty(listener: (atom: number) => void): void;
  close(): void;
}

const XA_WINDOW = 33;
const XA_CARDINAL = 6;
const PROPERTY_CHANGE_MASK = 0x00400000;

/** The `x11` package has no types: its objects (display, client, extensions) are used as it documents them. */
// biome-ignore lint/suspicious/noExplicitAny: an untyped library's objects
export type X11Object = any;

/**
 * Opens one connection with the `x11` client and resolves with its display object (the `client`,
 * `screen` list, ...). `stream` hands it an already-open transport (the XInput2 source's paced
 * socket); `auth: undefined` is passed with it so the client still looks up the Xauthority cookie
 * as it does for its own sockets (it would otherwise send no cookie for an injected stream).
 */
export async function openX11Display(options: { display: string; stream?: NodeJS.ReadWriteStream }): Promise<X11Object> {
  const x11 = ((await import('x11')) as { default: X11Object }).default;
  return new Promise((resolve, reject) => {
    const opts: Record<string, unknown> = { display: options.display };
    if (options.stream) {
      opts.stream = options.stream;
      opts.auth = undefined;
    }
    const client = x11.createClient(opts, (err: Error | null, dpy: unknown) => (err ? reject(err) : resolve(dpy)));
    client.on('error', (err: Error) => reject(err));
  });
}

export async function connectX11(display = process.env.DISPLAY): Promise<X11Connection> {
  if (!display) throw new Error('no DISPLAY');
  const d = await openX11Display({ display });
  const X = d.client;
  // Errors after connect (e.g. BadWindow for a window that just closed) arrive here; requests
  // also get them in their callbacks, so nothing more is needed than not crashing.
  X.on('error', () => undefined);
  const root: number = d.screen[0].root;
  // A reply that never comes (a request the server ignored) must not wedge the caller.
  const call = <T>(fn: (cb: (err: unknown, v: T) => void) => void): Promise<T | undefined> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 2000);
      fn((err, v) => {
        clearTimeout(timer);
        resolve(err ? undefined : v);
      });
    });
  let screenSaver: X11Object;
  let res: X11Object;
  const listeners: Array<(atom: number) => void> = [];
  X.on('event', (ev: { name?: string; wid?: number; atom?: number }) => {
    if (ev.name === 'PropertyNotify' && ev.wid === root && ev.atom !== undefined) for (const l of listeners) l(ev.atom);
  });
  const conn: X11Connection = {
    display,
    root,
    async hasExtension(name) {
      const ext = await call<{ present: boolean }>((cb) => X.QueryExtension(name, cb));
      return Boolean(ext?.present);
    },
    async atom(name) {
      const a = await call<number>((cb) => X.InternAtom(false, name, cb));
      if (a === undefined) throw new Error(`InternAtom ${name} failed`);
      return a;
    },
    async property32(window, property, type) {
      const p = await call<{ data: Buffer }>((cb) => X.GetProperty(0, window, property, type, 0, 1, cb));
      return p?.data && p.data.length >= 4 ? p.data.readUInt32LE(0) : undefined;
    },
    async inputFocus() {
      const f = await call<number | { focus: number }>((cb) => X.GetInputFocus(cb));
      if (typeof f === 'number') return f;
      return f?.focus ?? 0;
    },
    async parent(window) {
      const t = await call<{ parent: number; root: number }>((cb) => X.QueryTree(window, cb));
      if (!t || t.parent === 0 || t.parent === t.root) return undefined;
      return t.parent;
    },
    async clientPid(window) {
      if (res === undefined) res = (await call<X11Object>((cb) => X.require('res', cb))) ?? null;
      if (!res) return undefined;
      const ids = await call<Array<{ mask: number; value: number[] }>>((cb) => res.QueryClientIds([{ client: window, mask: 2 }], cb));
      const pid = ids?.find((i) => i.mask === 2)?.value[0];
      return pid && pid > 0 ? pid : undefined;
    },
    async idleMs() {
      if (screenSaver === undefined) {
        screenSaver = (await call<X11Object>((cb) => X.require('screen-saver', cb))) ?? null;
      }
      if (!screenSaver) return undefined;
      const info = await call<{ idle: number }>((cb) => screenSaver.QueryInfo(root, cb));
      return info?.idle;
    },
    watchRootProperty(listener) {
      if (listeners.length === 0) X.ChangeWindowAttributes(root, { eventMask: PROPERTY_CHANGE_MASK });
      listeners.push(listener);
    },
    close() {
      try {
        X.terminate();
      } catch {
        /* already closed */
      }
    },
  };
  return conn;
}

/** The executable of a process: /proc/PID/exe, or its comm name when exe is not readable (another user's). */
export function executableOf(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() || null;
    } catch {
      return null;
    }
  }
}

/**
 * The process owning a window: the X server's own answer (X-Resource, local clients) first, as
 * it cannot be forged by the client and works for toolkits that never set _NET_WM_PID (Xt, Motif);
 * else _NET_WM_PID on the window or its first ancestor carrying it.
 */
export async function windowPid(x: X11Connection, window: number, netWmPid: number): Promise<number | undefined> {
  const owner = await x.clientPid(window);
  if (owner) return owner;
  let w: number | undefined = window;
  for (let depth = 0; w && depth < 16; depth++) {
    const pid = await x.property32(w, netWmPid, XA_CARDINAL);
    if (pid) return pid;
    w = await x.parent(w);
  }
  return undefined;
}

export { XA_CARDINAL, XA_WINDOW };
