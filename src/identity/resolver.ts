/**
 * The agent's one identity resolver: uid -> user name and gid -> group name as the system's name
 * service (NSS) names them, so directory users (Active Directory through SSSD or winbind, LDAP,
 * NIS, extrausers) are named like local ones.
 *
 * - Local accounts come from /etc/passwd and /etc/group synchronously (PasswdNames, the "files"
 *   source every nsswitch.conf lists first), so the sampler names them at first sight.
 * - Any other id is looked up with `getent passwd|group ID` (whatever nsswitch.conf configures),
 *   asynchronously, at most `maxConcurrent` at a time, once per id: `user()`/`group()` never wait
 *   and return null until the answer is in; record builders ask again when they emit, so a record
 *   carries the name once it is known. `userAsync()` waits (for the few callers that must have the
 *   name before they act: a lease request, a session agent's welcome).
 * - Answers are cached in a bounded LRU (`maxEntries`); an entry older than `refreshMs` is served
 *   while a background lookup refreshes it (a renamed directory user is picked up); an unknown id
 *   is asked again only after `negativeMs`.
 * - Without getent (macOS, Windows, minimal containers) the files are all there is.
 *
 * User names are given in the configured `identity.userFormat` (`DOMAIN\name`, `name@realm`) for
 * sites whose license server expects the domain form; group names are never reformatted.
 */
import { execFile } from 'node:child_process';
import { PasswdNames } from './files.js';

export interface NameLookup {
  user(uid: number): string | null;
  group(gid: number): string | null;
}

export const USER_FORMATS = ['name', 'DOMAIN\\name', 'name@realm'] as const;
export type UserFormat = (typeof USER_FORMATS)[number];

export type IdKind = 'passwd' | 'group';
/** One NSS lookup: the name, null when NSS does not know the id, undefined when NSS cannot be asked. */
export type NssLookup = (kind: IdKind, id: number) => Promise<string | null | undefined>;

export interface IdentityOptions {
  userFormat?: UserFormat;
  /** The domain (`DOMAIN\name`) or realm (`name@realm`); required by those formats. */
  domain?: string;
  refreshMs?: number;
  negativeMs?: number;
  maxEntries?: number;
  maxConcurrent?: number;
  lookupTimeoutMs?: number;
  /** NSS lookup; default `getent`. */
  nss?: NssLookup;
  /** The files source; default /etc/passwd and /etc/group. */
  files?: NameLookup;
  now?: () => number;
}

interface Entry {
  name: string | null;
  at: number;
}

export interface IdentityStats {
  nss: 'getent' | 'unavailable' | 'custom';
  cached: number;
  lookups: number;
  lookupFailures: number;
  pending: number;
}

/** A user name in the site's format; a name NSS already qualified is re-qualified, not doubled. */
export function formatUserName(name: string, format: UserFormat = 'name', domain?: string): string {
  if (format === 'name' || !domain) return name;
  const slash = name.lastIndexOf('\\');
  const at = name.indexOf('@');
  const bare = slash >= 0 ? name.slice(slash + 1) : at > 0 ? name.slice(0, at) : name;
  return format === 'DOMAIN\\name' ? `${domain}\\${bare}` : `${bare}@${domain}`;
}

/** `getent passwd|group ID`: exit 0 with a line, 2 when the id is unknown; ENOENT when absent. */
export function getentLookup(timeoutMs = 5000): NssLookup {
  return (kind, id) =>
    new Promise((resolve, reject) => {
      execFile('getent', [kind, String(id)], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') return resolve(undefined);
          if ((err as { code?: unknown }).code === 2) return resolve(null);
          return reject(err); // a timeout or a broken NSS module: not an answer; the old one is kept
        }
        const line = stdout.split('\n')[0] ?? '';
        const f = line.split(':');
        resolve(f[0] && Number(f[2]) === id ? f[0] : null);
      });
    });
}

export class IdentityResolver implements NameLookup {
  private readonly cache = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<string | null>>();
  private readonly queue: Array<() => void> = [];
  private running = 0;
  private nssAvailable = true;
  private readonly counters = { lookups: 0, lookupFailures: 0 };
  private readonly format: UserFormat;
  private readonly domain: string | undefined;
  private readonly refreshMs: number;
  private readonly negativeMs: number;
  private readonly maxEntries: number;
  private readonly maxConcurrent: number;
  private readonly nss: NssLookup;
  private readonly files: NameLookup;
  private readonly now: () => number;
  private readonly customNss: boolean;

  constructor(options: IdentityOptions = {}) {
    this.format = options.userFormat ?? 'name';
    this.domain = options.domain;
    if (this.format !== 'name' && !this.domain) throw new Error(`identity.userFormat "${this.format}" needs identity.domain`);
    this.refreshMs = options.refreshMs ?? 3_600_000;
    this.negativeMs = options.negativeMs ?? 300_000;
    this.maxEntries = options.maxEntries ?? 4096;
    this.maxConcurrent = options.maxConcurrent ?? 2;
    this.customNss = options.nss !== undefined;
    this.nss = options.nss ?? getentLookup(options.lookupTimeoutMs);
    this.files = options.files ?? new PasswdNames();
    this.now = options.now ?? Date.now;
  }

  /** The user name (site format), or null while it is being looked up or if nobody knows it. */
  user(uid: number): string | null {
    const name = this.cached('passwd', uid);
    return name === null ? null : formatUserName(name, this.format, this.domain);
  }

  group(gid: number): string | null {
    return this.cached('group', gid);
  }

  /** The user name once NSS has answered (or the files, or null). */
  async userAsync(uid: number): Promise<string | null> {
    const name = await this.resolved('passwd', uid);
    return name === null ? null : formatUserName(name, this.format, this.domain);
  }

  /** A user name from elsewhere (the OS's process list on macOS/Windows) in the site's format. */
  formatUser(name: string): string {
    return formatUserName(name, this.format, this.domain);
  }

  async groupAsync(gid: number): Promise<string | null> {
    return this.resolved('group', gid);
  }

  /** Resolves once every lookup started so far has answered (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.inflight.size > 0) await Promise.all([...this.inflight.values()]);
  }

  stats(): IdentityStats {
    return {
      nss: this.customNss ? 'custom' : this.nssAvailable ? 'getent' : 'unavailable',
      cached: this.cache.size,
      lookups: this.counters.lookups,
      lookupFailures: this.counters.lookupFailures,
      pending: this.inflight.size,
    };
  }

  private cached(kind: IdKind, id: number): string | null {
    const key = `${kind}:${id}`;
    const e = this.cache.get(key);
    if (e) {
      // LRU: a hit moves the entry to the young end.
      this.cache.delete(key);
      this.cache.set(key, e);
      if (this.stale(e)) void this.lookup(kind, id);
      return e.name;
    }
    const local = kind === 'passwd' ? this.files.user(id) : this.files.group(id);
    if (local !== null) {
      this.store(key, local);
      return local;
    }
    void this.lookup(kind, id);
    return null;
  }

  private async resolved(kind: IdKind, id: number): Promise<string | null> {
    const now = this.cached(kind, id);
    if (now !== null) return now;
    const pending = this.inflight.get(`${kind}:${id}`);
    return pending ? pending : (this.cache.get(`${kind}:${id}`)?.name ?? null);
  }

  private stale(e: Entry): boolean {
    return this.now() - e.at >= (e.name === null ? this.negativeMs : this.refreshMs);
  }

  private store(key: string, name: string | null): void {
    this.cache.delete(key);
    this.cache.set(key, { name, at: this.now() });
    while (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
  }

  private lookup(kind: IdKind, id: number): Promise<string | null> {
    const key = `${kind}:${id}`;
    const existing = this.inflight.get(key);
    if (existing) return existing;
    if (!this.nssAvailable) {
      // Files only: the answer (or the miss, so it is not re-read on every sample) is cached.
      const local = kind === 'passwd' ? this.files.user(id) : this.files.group(id);
      this.store(key, local);
      return Promise.resolve(local);
    }
    const p = new Promise<string | null>((resolve) => {
      const run = () => {
        this.running++;
        this.counters.lookups++;
        this.nss(kind, id)
          .then(
            (name) => {
              if (name === undefined) {
                this.nssAvailable = false;
                const local = kind === 'passwd' ? this.files.user(id) : this.files.group(id);
                this.store(key, local);
                return local;
              }
              this.store(key, name);
              return name;
            },
            () => {
              // Not an answer: a known name is kept, and asked again after negativeMs at the latest.
              this.counters.lookupFailures++;
              const prev = this.cache.get(key);
              this.store(key, prev?.name ?? null);
              return prev?.name ?? null;
            },
          )
          .then((name) => {
            this.running--;
            this.inflight.delete(key);
            resolve(name);
            this.queue.shift()?.();
          });
      };
      if (this.running < this.maxConcurrent) run();
      else this.queue.push(run);
    });
    this.inflight.set(key, p);
    return p;
  }
}

/**
 * The daemon's resolver: created from `identity.*` on first use and shared through
 * ctx.components.identity, so every component names users the same way.
 */
export function identityOf(ctx: {
  config: { identity?: { userFormat?: UserFormat; domain?: string; refreshSeconds?: number; maxEntries?: number } };
  components: { identity?: IdentityResolver };
}): IdentityResolver {
  let r = ctx.components.identity;
  if (!r) {
    const c = ctx.config.identity ?? {};
    r = new IdentityResolver({
      userFormat: c.userFormat,
      domain: c.domain,
      refreshMs: c.refreshSeconds !== undefined ? c.refreshSeconds * 1000 : undefined,
      maxEntries: c.maxEntries,
    });
    ctx.components.identity = r;
  }
  return r;
}
