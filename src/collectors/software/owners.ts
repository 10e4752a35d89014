/**
 * Which installed package owns an executable: dpkg's file lists (`dpkg-query -S PATH`, then the
 * package's version) or rpm's (`rpm -qf PATH`). Asked only for the executables of licensed and
 * logged products (the enforcer prefetches them at launch), once per path, off the sampler's path;
 * process records then carry the cached answer. The cache is dropped when the package database
 * changes (the software audit calls invalidate()).
 */
import type { ProcessPackageFields } from '../../protocol/v1.js';
import { VersionedCache } from '../../shared/versioned-cache.js';
import { findExecutable, run } from './sources.js';

export interface PackageOwner {
  package: string;
  version: string | null;
  source: ProcessPackageFields['packageSource'];
}

/** What the software audit offers other components (`ctx.components.packages`). */
export interface PackageOwnerLookup {
  /** Starts a lookup of exe's owner if not known yet. */
  prefetch(exe: string): void;
  /** The known owner: null = no package owns it, undefined = not looked up (yet). */
  cached(exe: string): PackageOwner | null | undefined;
  ownerAsync(exe: string): Promise<PackageOwner | null>;
}

/** `dpkg-query -S` output -> the first owning package (diversion lines are skipped). */
export function parseDpkgSearch(text: string, path: string): string | null {
  for (const line of text.split('\n')) {
    if (line.startsWith('diversion ')) continue;
    const i = line.lastIndexOf(': ');
    if (i <= 0 || line.slice(i + 2).trim() !== path) continue;
    const first = line.slice(0, i).split(',')[0]!.trim();
    if (first) return first;
  }
  return null;
}

/** The same file under merged /usr (Debian 12 lists /bin/ls; /proc shows /usr/bin/ls). */
export function usrMergeAliases(path: string): string[] {
  const out = [path];
  for (const d of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    if (path.startsWith(`/usr/${d}/`)) out.push(path.slice(4));
    else if (path.startsWith(`/${d}/`)) out.push(`/usr${path}`);
  }
  return out;
}

export class PackageOwners implements PackageOwnerLookup {
  private readonly cache: VersionedCache<string, PackageOwner | null>;
  private readonly inflight = new Map<string, Promise<PackageOwner | null>>();
  /** Bumped by invalidate(): a lookup started before is not cached. */
  private generation = 0;

  constructor(
    private readonly dpkgQuery = findExecutable('dpkg-query'),
    private readonly rpm = findExecutable('rpm'),
    maxEntries = 4096,
    /** rpm's database directory when not the system's (tests). */
    private readonly rpmDbPath?: string,
  ) {
    this.cache = new VersionedCache(maxEntries);
  }

  prefetch(exe: string): void {
    if (!this.cache.has(exe, this.generation)) void this.ownerAsync(exe);
  }

  cached(exe: string): PackageOwner | null | undefined {
    return this.cache.get(exe, this.generation);
  }

  ownerAsync(exe: string): Promise<PackageOwner | null> {
    if (this.cache.has(exe, this.generation)) return Promise.resolve(this.cache.get(exe, this.generation)!);
    const pending = this.inflight.get(exe);
    if (pending) return pending;
    const gen = this.generation;
    const p = this.lookup(exe)
      .catch(() => null)
      .then((owner) => {
        this.inflight.delete(exe);
        this.cache.set(exe, owner, gen); // dropped if invalidate() came meanwhile
        return owner;
      });
    this.inflight.set(exe, p);
    return p;
  }

  /** Packages changed: owners are looked up again when next asked. */
  invalidate(): void {
    this.generation++;
    this.cache.clear();
  }

  private async lookup(exe: string): Promise<PackageOwner | null> {
    if (this.dpkgQuery) {
      for (const path of usrMergeAliases(exe)) {
        let out: string;
        try {
          out = await run(this.dpkgQuery, ['-S', path], 30_000);
        } catch {
          continue; // exit 1: no package owns this path
        }
        const pkg = parseDpkgSearch(out, path);
        if (!pkg) continue;
        let version: string | null = null;
        try {
          version = (await run(this.dpkgQuery, ['-W', '--showformat=${Version}', pkg], 30_000)).trim() || null;
        } catch {
          /* removed meanwhile */
        }
        return { package: pkg.replace(/:[^:]+$/, ''), version, source: 'dpkg' };
      }
    }
    if (this.rpm) {
      try {
        const db = this.rpmDbPath ? ['--dbpath', this.rpmDbPath] : [];
        const out =
          (await run(this.rpm, [...db, '-qf', '--qf', '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n', exe], 30_000)).split('\n')[0] ?? '';
        const [name, version] = out.split('\t');
        if (name && !/not owned/.test(out)) return { package: name, version: version || null, source: 'rpm' };
      } catch {
        /* not owned by any package */
      }
    }
    return null;
  }
}
