/**
 * Snaps through `snap list`. A snap installed, refreshed or removed adds or removes a file in
 * /var/lib/snapd/snaps: that directory is the fingerprint (snapd's state.json changes constantly).
 */
import { existsSync } from 'node:fs';
import type { SoftwareItem } from './model.js';
import { findExecutable, run, statFingerprint, type SoftwareSource } from './sources.js';

/** `snap list --unicode=never --color=never` -> items (Name Version Rev Tracking Publisher Notes). */
export function parseSnapList(text: string): SoftwareItem[] {
  const out: SoftwareItem[] = [];
  const lines = text.split('\n');
  for (const line of lines.slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !f[0]) continue;
    const [name, version, , , publisher] = f as [string, string, string, string, string];
    out.push({
      source: 'snap',
      name,
      version,
      architecture: null,
      installTime: null,
      // Verified publishers carry a marker ("*" without unicode, a check mark with it).
      publisher: publisher === '-' ? null : publisher.replace(/[*\u2713\u272a]+$/, ''),
    });
  }
  return out;
}

export class SnapSource implements SoftwareSource {
  readonly name = 'snap' as const;
  readonly watch;

  constructor(
    readonly snapsDir = '/var/lib/snapd/snaps',
    private readonly snap = findExecutable('snap'),
  ) {
    this.watch = [{ dir: snapsDir, files: 'any' }] as const;
  }

  available(): boolean {
    return this.snap !== null && existsSync(this.snapsDir);
  }

  fingerprint(): string {
    return statFingerprint([this.snapsDir]);
  }

  async list(): Promise<SoftwareItem[]> {
    return parseSnapList(await run(this.snap ?? 'snap', ['list', '--unicode=never', '--color=never']));
  }
}
