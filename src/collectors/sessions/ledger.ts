/**
 * Logon/logoff (KeyServer events 15/16, shared/reference/000) for users' graphical sessions. Pure:
 * every call carries its own time; the component (./component.ts) feeds it from the session
 * channel and logind and journals what it returns.
 *
 * A session is known by its logind session id when there is one (the session agent sends
 * XDG_SESSION_ID; logind lists its sessions), else by the session agent's connection. It logs on
 * when first seen and off when it ends: logind's SessionRemoved for a session logind reported,
 * otherwise the last connection of a session agent in it closing. A screen lock is not a logoff
 * (nothing here hears of locks), and several agents of one session (a restart) are one session.
 */
import type { Narrow, UsageEventFields } from '../../protocol/v1.js';

/**
 * A logon/logoff `usage-event` record: the protocol's fields (protocol/v1.ts), narrowed; `uid`,
 * `display`, `session` and `source` are stored as they are. The protocol requires a product; these
 * events concern the session, not a program. `reason`: why a logoff was written other than the
 * session ending (`agent-stopped`, `gone-while-stopped`).
 */
export interface LogonEvent
  extends Narrow<Pick<UsageEventFields, 'code' | 'product' | 'user' | 'reason'>, { code: 15 | 16; product: 'session'; user: string; reason?: string }> {
  type: 'usage-event';
  time: string;
  uid: number | null;
  display: string | null;
  /** logind session id, when known. */
  session: string | null;
  /** What saw it: `session-agent` or `logind`. */
  source: 'session-agent' | 'logind';
}

export interface OpenSession {
  key: string;
  user: string;
  uid: number | null;
  display: string | null;
  session: string | null;
  source: 'session-agent' | 'logind';
  /** Epoch ms of the logon. */
  since: number;
  /** Session agent connections in it (connection ids). */
  agents: string[];
  /** logind reported it (so only logind's removal ends it). */
  logind: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Journal cursor of the open sessions, committed with their events (read by `records --summary sessions`). */
export const LOGONS_CURSOR = 'logons.open';

export class LogonLedger {
  private readonly open = new Map<string, OpenSession>();
  private readonly keyOfAgent = new Map<string, string>();

  /** Sessions logged on before a restart (from the journal cursor): no second logon for them. */
  constructor(saved: OpenSession[] = []) {
    for (const s of saved) this.open.set(s.key, { ...s, agents: [] });
  }

  sessions(): OpenSession[] {
    return [...this.open.values()].map((s) => ({ ...s, agents: [...s.agents] }));
  }

  agentUp(at: number, a: { conn: string; uid: number; user: string; display?: string; session?: string }): LogonEvent[] {
    const key = a.session ? `logind:${a.session}` : `agent:${a.conn}`;
    this.keyOfAgent.set(a.conn, key);
    const s = this.open.get(key);
    if (s) {
      s.agents.push(a.conn);
      if (!s.display && a.display) s.display = a.display;
      return [];
    }
    const opened: OpenSession = {
      key,
      user: a.user,
      uid: a.uid,
      display: a.display ?? null,
      session: a.session ?? null,
      source: 'session-agent',
      since: at,
      agents: [a.conn],
      logind: false,
    };
    this.open.set(key, opened);
    return [this.event(opened, 15, at)];
  }

  agentDown(at: number, conn: string): LogonEvent[] {
    const key = this.keyOfAgent.get(conn);
    this.keyOfAgent.delete(conn);
    const s = key ? this.open.get(key) : undefined;
    if (!s) return [];
    s.agents = s.agents.filter((c) => c !== conn);
    if (s.agents.length > 0 || s.logind) return [];
    this.open.delete(s.key);
    return [this.event(s, 16, at)];
  }

  /** A graphical logind session exists (SessionNew, or listed at start; `since` = its own start). */
  logindUp(at: number, l: { session: string; uid: number; user: string; display?: string; since?: number }): LogonEvent[] {
    const key = `logind:${l.session}`;
    const s = this.open.get(key);
    if (s) {
      s.logind = true;
      if (!s.display && l.display) s.display = l.display;
      return [];
    }
    const since = l.since !== undefined && l.since <= at ? l.since : at;
    const opened: OpenSession = {
      key,
      user: l.user,
      uid: l.uid,
      display: l.display ?? null,
      session: l.session,
      source: 'logind',
      since,
      agents: [],
      logind: true,
    };
    this.open.set(key, opened);
    return [this.event(opened, 15, since)];
  }

  logindDown(at: number, session: string): LogonEvent[] {
    const key = `logind:${session}`;
    const s = this.open.get(key);
    if (!s) return [];
    this.open.delete(key);
    for (const c of s.agents) this.keyOfAgent.delete(c);
    return [this.event(s, 16, at)];
  }

  /**
   * After a restart, with logind's list of current sessions: sessions kept from before that logind
   * no longer has ended while the agent was away (their logoff is written now, with a reason);
   * agent-only sessions from before are ended too (their connection did not survive the restart).
   */
  reconcile(at: number, logindSessions: Set<string> | undefined): LogonEvent[] {
    const out: LogonEvent[] = [];
    for (const s of [...this.open.values()]) {
      if (s.agents.length > 0) continue;
      const alive = s.session !== null && logindSessions?.has(s.session) === true;
      if (alive) {
        s.logind = true;
        continue;
      }
      this.open.delete(s.key);
      out.push(this.event(s, 16, at, 'gone-while-stopped'));
    }
    return out;
  }

  /** The daemon stops: sessions only its connections vouched for end now (KeyServer's "stopped running"). */
  shutdown(at: number): LogonEvent[] {
    const out: LogonEvent[] = [];
    for (const s of [...this.open.values()]) {
      if (s.logind) continue; // kept: logind still has it, the next start carries on
      this.open.delete(s.key);
      out.push(this.event(s, 16, at, 'agent-stopped'));
    }
    return out;
  }

  private event(s: OpenSession, code: 15 | 16, at: number, reason?: string): LogonEvent {
    const e: LogonEvent = {
      type: 'usage-event',
      time: iso(at),
      code,
      product: 'session',
      user: s.user,
      uid: s.uid,
      display: s.display,
      session: s.session,
      source: s.source,
    };
    if (reason) e.reason = reason;
    return e;
  }
}

/** One user's sessions from their 15/16 events (for `usage-agent records --summary sessions`). */
export interface SessionSummary {
  user: string;
  sessions: number;
  open: number;
  totalSeconds: number;
  firstLogon: string | null;
  lastLogoff: string | null;
  displays: string[];
}

/**
 * Pairs 15/16 events per (user, session or display) in time order. Pure. A logoff without a
 * logon (the journal was trimmed) is ignored; a logon still open counts up to `now`.
 */
export function summarizeSessions(
  events: Array<{ code: number; time: string; user?: unknown; display?: unknown; session?: unknown }>,
  now: number,
): SessionSummary[] {
  const byUser = new Map<string, SessionSummary>();
  const openAt = new Map<string, number>();
  const sorted = [...events].filter((e) => e.code === 15 || e.code === 16).sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || a.code - b.code);
  const summary = (user: string) => {
    let s = byUser.get(user);
    if (!s) {
      s = { user, sessions: 0, open: 0, totalSeconds: 0, firstLogon: null, lastLogoff: null, displays: [] };
      byUser.set(user, s);
    }
    return s;
  };
  for (const e of sorted) {
    const user = typeof e.user === 'string' ? e.user : 'unknown';
    const key = `${user}\u0000${typeof e.session === 'string' ? e.session : typeof e.display === 'string' ? e.display : ''}`;
    const s = summary(user);
    const t = Date.parse(e.time);
    if (e.code === 15) {
      if (openAt.has(key)) continue; // already open
      openAt.set(key, t);
      s.sessions += 1;
      s.firstLogon ??= e.time;
      if (typeof e.display === 'string' && !s.displays.includes(e.display)) s.displays.push(e.display);
    } else {
      const from = openAt.get(key);
      if (from === undefined) continue;
      openAt.delete(key);
      s.totalSeconds += (t - from) / 1000;
      s.lastLogoff = e.time;
    }
  }
  for (const [key, from] of openAt) {
    const s = summary(key.split('\u0000')[0]!);
    s.open += 1;
    s.totalSeconds += Math.max(0, now - from) / 1000;
  }
  return [...byUser.values()].map((s) => ({ ...s, totalSeconds: Math.round(s.totalSeconds) })).sort((a, b) => a.user.localeCompare(b.user));
}
