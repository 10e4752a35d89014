/**
 * Debian packages, read straight from dpkg's database: /var/lib/dpkg/status plus any journal
 * entries in updates/ not yet merged into it (exactly what dpkg-query shows). The install time is
 * the mtime of the package's file list in info/ (dpkg rewrites it when it unpacks the package).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SoftwareItem } from './model.js';
import { isoOrNull, statFingerprint, type SoftwareSource } from './sources.js';

/** dpkg states in which a package's files are on disk (not `not-installed`, not `config-files`). */
const PRESENT = new Set(['installed', 'unpacked', 'half-configured', 'half-installed', 'triggers-awaited', 'triggers-pending']);

export interface DpkgStanza {
  package: string;
  version: string;
  architecture: string | null;
  state: string;
  multiArch: string | null;
}

/** Stanzas of a dpkg status file (RFC 822-like paragraphs), in file order. */
export function parseDpkgStatus(text: string): DpkgStanza[] {
  const out: DpkgStanza[] = [];
  for (const para of text.split(/\n\n+/)) {
    let pkg = '';
    let version = '';
    let arch: string | null = null;
    let state = '';
    let multiArch: string | null = null;
    for (const line of para.split('\n')) {
      if (line.length === 0 || line[0] === ' ' || line[0] === '\t') continue; // continuation lines
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      switch (field) {
        case 'Package':
          pkg = value;
          break;
        case 'Version':
          version = value;
          break;
        case 'Architecture':
          arch = value || null;
          break;
        case 'Status':
          state = value.split(/\s+/)[2] ?? '';
          break;
        case 'Multi-Arch':
          multiArch = value;
          break;
      }
    }
    if (pkg) out.push({ package: pkg, version, architecture: arch, state, multiArch });
  }
  return out;
}

/** The installed packages: status merged with the updates journal (later entries win). */
export function dpkgInstalled(status: DpkgStanza[], updates: DpkgStanza[][]): DpkgStanza[] {
  const byKey = new Map<string, DpkgStanza>();
  const key = (s: DpkgStanza) => `${s.package}:${s.architecture ?? ''}`;
  for (const s of status) byKey.set(key(s), s);
  for (const u of updates) for (const s of u) byKey.set(key(s), s);
  return [...byKey.values()].filter((s) => PRESENT.has(s.state));
}

export class DpkgSource implements SoftwareSource {
  readonly name = 'dpkg' as const;
  readonly watch;

  constructor(readonly adminDir = '/var/lib/dpkg') {
    // dpkg replaces `status` by renaming status-new over it at every checkpoint.
    this.watch = [{ dir: adminDir, files: ['status'] }] as const;
  }

  available(): boolean {
    try {
      return statSync(join(this.adminDir, 'status')).isFile();
    } catch {
      return false;
    }
  }

  fingerprint(): string {
    return statFingerprint([join(this.adminDir, 'status'), join(this.adminDir, 'updates')]);
  }

  /** Journal entries not yet merged: dpkg is running (or died mid-run). */
  busy(): boolean {
    return this.updateFiles().length > 0;
  }

  async list(): Promise<SoftwareItem[]> {
    const status = parseDpkgStatus(readFileSync(join(this.adminDir, 'status'), 'utf8'));
    const updates = this.updateFiles().map((f) => {
      try {
        return parseDpkgStatus(readFileSync(join(this.adminDir, 'updates', f), 'utf8'));
      } catch {
        return []; // merged and removed by dpkg meanwhile
      }
    });
    const info = join(this.adminDir, 'info');
    return dpkgInstalled(status, updates).map((s) => ({
      source: 'dpkg',
      name: s.package,
      version: s.version,
      architecture: s.architecture,
      installTime: isoOrNull(listMtime(info, s)),
    }));
  }

  private updateFiles(): string[] {
    try {
      return readdirSync(join(this.adminDir, 'updates'))
        .filter((f) => /^\d+$/.test(f))
        .sort();
    } catch {
      return [];
    }
  }
}

function listMtime(info: string, s: DpkgStanza): number | null {
  // Multi-Arch: same packages (and foreign ones) have arch-qualified info files.
  for (const f of [`${s.package}:${s.architecture}.list`, `${s.package}.list`]) {
    try {
      return statSync(join(info, f)).mtimeMs;
    } catch {
      /* try the other name */
    }
  }
  return null;
}
