/**
 * Flatpak applications of the system installation, through `flatpak list`. Flatpak touches
 * <installation>/.changed on every install, update and removal: that is the fingerprint.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { SoftwareItem } from './model.js';
import { findExecutable, run, statFingerprint, type SoftwareSource } from './sources.js';

export const FLATPAK_COLUMNS = 'application,version,arch,branch,origin';

/** `flatpak list --app --columns=FLATPAK_COLUMNS` output (tab separated) -> items. */
export function parseFlatpakList(text: string): SoftwareItem[] {
  const out: SoftwareItem[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [app, version, arch, branch, origin] = line.split('\t').map((f) => f.trim());
    if (!app) continue;
    out.push({
      source: 'flatpak',
      // One app can be installed from several branches (stable, beta): each is its own item.
      name: branch && branch !== 'stable' ? `${app}//${branch}` : app,
      version: version || branch || '',
      architecture: arch || null,
      installTime: null,
      publisher: origin || null,
    });
  }
  return out;
}

export class FlatpakSource implements SoftwareSource {
  readonly name = 'flatpak' as const;
  readonly watch;

  constructor(
    readonly installation = '/var/lib/flatpak',
    private readonly flatpak = findExecutable('flatpak'),
  ) {
    this.watch = [{ dir: installation, files: ['.changed'] }] as const;
  }

  available(): boolean {
    return this.flatpak !== null && existsSync(this.installation);
  }

  fingerprint(): string {
    return statFingerprint([join(this.installation, '.changed'), join(this.installation, 'app')]);
  }

  async list(): Promise<SoftwareItem[]> {
    return parseFlatpakList(await run(this.flatpak ?? 'flatpak', ['list', '--system', '--app', `--columns=${FLATPAK_COLUMNS}`]));
  }
}
