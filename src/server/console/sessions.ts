/**
 * Console sign-in: the tokens of the config with their roles, and the server-side session store.
 *
 * A session id is 32 random bytes (base64url) sent only in the HttpOnly cookie; the store keys
 * sessions by the id's SHA-256, so neither a heap dump of the map nor a log line holds a usable
 * id. Sessions end after `idleMs` unused or `maxMs` after sign-in, whichever comes first; they
 * live in this process's memory (a restart signs everyone out; several servers behind one address
 * need sticky sessions).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ConsoleRole, ServerConfig } from '../config.js';

export interface ConsoleIdentity {
  role: ConsoleRole;
  /** The token's configured name, or "admin token N" / "token N": never the token. */
  name: string;
}

export interface Session extends ConsoleIdentity {
  /** Sent in every form that changes something; compared in constant time. */
  csrf: string;
  createdAt: number;
  lastUsedAt: number;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
export const newSecret = (): string => randomBytes(32).toString('base64url');
/** The shape of an id or CSRF token newSecret makes: anything else is refused before any lookup. */
export const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

/** Constant-time equality of two strings (different lengths are unequal without a timing leak of the content). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/** The console tokens of a config: console.tokens with their roles, then reports.adminTokens as admins. */
export class ConsoleTokens {
  private readonly entries: Array<{ hash: Buffer } & ConsoleIdentity>;

  constructor(cfg: { console: Pick<ServerConfig['console'], 'tokens'>; reports: Pick<ServerConfig['reports'], 'adminTokens'> }) {
    this.entries = [
      ...cfg.console.tokens.map((t, i) => ({ hash: sha256(t.token), role: t.role, name: t.name ?? `token ${i + 1}` })),
      ...cfg.reports.adminTokens.map((t, i) => ({ hash: sha256(t), role: 'admin' as const, name: `admin token ${i + 1}` })),
    ];
  }

  get count(): number {
    return this.entries.length;
  }

  /** Who this token is; undefined when it is none of them. Every entry is compared, so the time says nothing about which matched. */
  identify(token: string): ConsoleIdentity | undefined {
    const given = sha256(token);
    let found: ConsoleIdentity | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.hash, given) && !found) found = { role: e.role, name: e.name };
    return found;
  }
}

export type SessionLookup = { session: Session } | { expired: true } | { unknown: true };

export class SessionStore {
  private readonly byHash = new Map<string, Session>();

  constructor(
    readonly idleMs: number,
    readonly maxMs: number,
    private readonly now: () => number = Date.now,
    /** Past this many sessions the least recently used goes first. */
    readonly maxSessions = 10_000,
  ) {}

  /** A new session; resolves with the id for the cookie (kept nowhere else). */
  create(who: ConsoleIdentity): { id: string; session: Session } {
    this.sweep();
    if (this.byHash.size >= this.maxSessions) this.byHash.delete(this.byHash.keys().next().value!);
    const id = newSecret();
    const t = this.now();
    const session: Session = { ...who, csrf: newSecret(), createdAt: t, lastUsedAt: t };
    this.byHash.set(key(id), session);
    return { id, session };
  }

  /** The live session of an id, its use recorded; `expired` when it timed out (and is gone now), `unknown` otherwise. */
  use(id: string): SessionLookup {
    if (!SECRET_RE.test(id)) return { unknown: true };
    const k = key(id);
    const s = this.byHash.get(k);
    if (!s) return { unknown: true };
    const t = this.now();
    if (this.isExpired(s, t)) {
      this.byHash.delete(k);
      return { expired: true };
    }
    s.lastUsedAt = t;
    // Most recently used last, so the bound drops the longest unused first.
    this.byHash.delete(k);
    this.byHash.set(k, s);
    return { session: s };
  }

  end(id: string): void {
    if (SECRET_RE.test(id)) this.byHash.delete(key(id));
  }

  get size(): number {
    return this.byHash.size;
  }

  private isExpired(s: Session, t: number): boolean {
    return t - s.lastUsedAt >= this.idleMs || t - s.createdAt >= this.maxMs;
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, s] of this.byHash) if (this.isExpired(s, t)) this.byHash.delete(k);
  }
}

const key = (id: string) => sha256(id).toString('hex');
