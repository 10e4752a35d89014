/**
 * The `logons` daemon component: logon/logoff usage events (15/16) for users' graphical
 * sessions, from the session channel (a session agent authenticating / disconnecting) and, where
 * there is a system bus with logind, from logind's SessionNew / SessionRemoved (graphical user
 * sessions only: Type x11/wayland/mir, Class user). Decisions are in ./ledger.ts; this is the I/O.
 * One long-running `gdbus monitor` (no process per event); `gdbus call` for the list at start and
 * the properties of each new session.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Component, ComponentFactory, DaemonContext } from '../../component/index.js';
import { LOGONS_CURSOR, LogonLedger, type LogonEvent, type OpenSession } from './ledger.js';

const GRAPHICAL = new Set(['x11', 'wayland', 'mir']);

/** `gdbus monitor` lines for logind's SessionNew / SessionRemoved. Pure. */
export function parseLogindSignal(line: string): { kind: 'new' | 'removed'; session: string; path: string } | undefined {
  const m = /org\.freedesktop\.login1\.Manager\.Session(New|Removed) \('([^']*)', objectpath '([^']+)'\)/.exec(line);
  if (!m) return undefined;
  return { kind: m[1] === 'New' ? 'new' : 'removed', session: m[2]!, path: m[3]! };
}

/**
 * `ListSessions` output: (id, uid, user, seat, path) per session. Pure. GVariant text gives the
 * types (`uint32`, `objectpath`) on the array's first element only.
 */
export function parseListSessions(text: string): Array<{ session: string; uid: number; user: string; path: string }> {
  const out: Array<{ session: string; uid: number; user: string; path: string }> = [];
  const re = /\('([^']*)', (?:uint32 )?(\d+), '([^']*)', '[^']*', (?:objectpath )?'([^']+)'\)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push({ session: m[1]!, uid: Number(m[2]), user: m[3]!, path: m[4]! });
  return out;
}

/** A session's GetAll properties: what decides whether it is graphical, and its display/start. Pure. */
export function parseSessionProperties(text: string): { type?: string; class?: string; display?: string; name?: string; uid?: number; sinceMs?: number } {
  const str = (k: string) => new RegExp(`'${k}': <'([^']*)'>`).exec(text)?.[1];
  const uid = /'User': <\(uint32 (\d+),/.exec(text)?.[1];
  const ts = /'Timestamp': <uint64 (\d+)>/.exec(text)?.[1];
  return {
    type: str('Type'),
    class: str('Class'),
    display: str('Display') || undefined,
    name: str('Name'),
    uid: uid !== undefined ? Number(uid) : undefined,
    sinceMs: ts !== undefined && Number(ts) > 0 ? Math.floor(Number(ts) / 1000) : undefined,
  };
}

function capture(args: string[], timeoutMs = 5000): Promise<string | undefined> {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn('gdbus', args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: timeoutMs });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => resolve(code === 0 ? out : undefined));
  });
}

const LOGIND = ['--system', '--dest', 'org.freedesktop.login1'];

export function createLogonsComponent(ctx: DaemonContext): Component | undefined {
  const hub = ctx.components.sessions;
  if (!hub) return undefined;
  const log = ctx.logger.child({ component: 'logons' });
  const host = ctx.host.hostname;
  const ledger = new LogonLedger(ctx.journal.getCursor<OpenSession[]>(LOGONS_CURSOR) ?? []);
  const counters = { logons: 0, logoffs: 0 };
  let logind: 'watching' | 'unavailable' = 'unavailable';
  let monitor: ChildProcess | undefined;
  let unsub: (() => void) | undefined;
  let stopped = false;

  const write = (events: LogonEvent[]): void => {
    if (events.length === 0) return;
    for (const e of events) {
      ctx.journal.append({ ...e, host });
      if (e.code === 15) counters.logons += 1;
      else counters.logoffs += 1;
      log.info({ code: e.code, user: e.user, display: e.display, session: e.session, source: e.source, reason: e.reason }, e.code === 15 ? 'logon' : 'logoff');
    }
    // The open sessions commit with the events: a restart neither repeats a logon nor loses one.
    ctx.journal.setCursor(LOGONS_CURSOR, ledger.sessions());
  };

  const describe = async (session: string, path: string, uid?: number, user?: string): Promise<void> => {
    const props = await capture([
      'call',
      ...LOGIND,
      '--object-path',
      path,
      '--method',
      'org.freedesktop.DBus.Properties.GetAll',
      'org.freedesktop.login1.Session',
    ]);
    if (!props || stopped) return;
    const p = parseSessionProperties(props);
    if (!p.type || !GRAPHICAL.has(p.type) || (p.class && p.class !== 'user')) return;
    const u = uid ?? p.uid;
    const name = user ?? p.name;
    if (u === undefined || !name) return;
    write(ledger.logindUp(Date.now(), { session, uid: u, user: name, display: p.display, since: p.sinceMs }));
  };

  const watchLogind = async (): Promise<Set<string> | undefined> => {
    const list = await capture(['call', ...LOGIND, '--object-path', '/org/freedesktop/login1', '--method', 'org.freedesktop.login1.Manager.ListSessions']);
    if (list === undefined) return undefined;
    const child = spawn('gdbus', ['monitor', ...LOGIND], { stdio: ['ignore', 'pipe', 'ignore'] });
    child.on('error', () => undefined);
    let buf = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const sig = parseLogindSignal(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (!sig || stopped) continue;
        if (sig.kind === 'removed') write(ledger.logindDown(Date.now(), sig.session));
        else void describe(sig.session, sig.path);
      }
    });
    monitor = child;
    logind = 'watching';
    const sessions = parseListSessions(list);
    await Promise.all(sessions.map((s) => describe(s.session, s.path, s.uid, s.user)));
    return new Set(sessions.map((s) => s.session));
  };

  return {
    name: 'logons',
    async start() {
      const current = await watchLogind();
      log.info({ logind, sessions: current ? [...current] : null, carriedOver: ledger.sessions().map((x) => x.session ?? x.key) }, 'logon/logoff watching');
      write(ledger.reconcile(Date.now(), current));
      for (const a of hub.agents()) write(ledger.agentUp(a.at, a));
      unsub = hub.onAgent((e) => {
        if (stopped) return;
        write(e.kind === 'up' ? ledger.agentUp(e.at, e) : ledger.agentDown(e.at, e.conn));
      });
    },
    stop() {
      stopped = true;
      unsub?.();
      monitor?.kill();
      write(ledger.shutdown(Date.now()));
    },
    status() {
      return {
        logind,
        open: ledger
          .sessions()
          .map((s) => ({ user: s.user, display: s.display, session: s.session, source: s.source, since: new Date(s.since).toISOString() })),
        ...counters,
      };
    },
  };
}

export const createLogons: ComponentFactory = (ctx) => createLogonsComponent(ctx);
