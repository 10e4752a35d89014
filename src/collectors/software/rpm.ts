/**
 * RPM packages through `rpm -qa` (the database format, BerkeleyDB, NDB or SQLite, is rpm's own
 * business); the fingerprint is a stat of the database files.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SoftwareItem } from './model.js';
import { findExecutable, isoOrNull, run, statFingerprint, type SoftwareSource } from './sources.js';

/** Where rpm keeps its database: /usr/lib/sysimage/rpm on newer systems, /var/lib/rpm before. */
const DB_DIRS = ['/usr/lib/sysimage/rpm', '/var/lib/rpm'];
const DB_FILES = ['rpmdb.sqlite', 'Packages.db', 'Packages'];
/** SQLite databases change in their write-ahead log first; it is part of the fingerprint. */
const CHANGED_FILES = [...DB_FILES, 'rpmdb.sqlite-wal'];

export const RPM_QUERY_FORMAT = '%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{INSTALLTIME}\\t%{VENDOR}\\n';

/** `rpm -qa --qf RPM_QUERY_FORMAT` output -> items (gpg-pubkey pseudo-packages are keys, not software). */
export function parseRpmQuery(text: string): SoftwareItem[] {
  const out: SoftwareItem[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [name, version, arch, installTime, vendor] = line.split('\t');
    if (!name || name === 'gpg-pubkey' || version === undefined) continue;
    out.push({
      source: 'rpm',
      name,
      version,
      architecture: arch && arch !== '(none)' ? arch : null,
      installTime: isoOrNull(Number(installTime) * 1000),
      publisher: vendor && vendor !== '(none)' ? vendor : null,
    });
  }
  return out;
}

export class RpmSource implements SoftwareSource {
  readonly name = 'rpm' as const;
  readonly watch;
  private readonly dbDir: string;

  constructor(
    dbDir?: string,
    private readonly rpm = findExecutable('rpm'),
  ) {
    this.dbDir = dbDir ?? DB_DIRS.find((d) => DB_FILES.some((f) => existsSync(join(d, f)))) ?? DB_DIRS[1]!;
    this.watch = [{ dir: this.dbDir, files: CHANGED_FILES }] as const;
  }

  available(): boolean {
    return this.rpm !== null && DB_FILES.some((f) => existsSync(join(this.dbDir, f)));
  }

  fingerprint(): string {
    return statFingerprint(CHANGED_FILES.map((f) => join(this.dbDir, f)));
  }

  async list(): Promise<SoftwareItem[]> {
    return parseRpmQuery(await run(this.rpm ?? 'rpm', ['-qa', '--dbpath', this.dbDir, '--qf', RPM_QUERY_FORMAT]));
  }
}
