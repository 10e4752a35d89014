/**
 * macOS: application bundles (`*.app`) in /Applications (and one level of folders in it, such as
 * Utilities), named and versioned by their Info.plist. Read through a BundleReader so the logic is
 * tested here with a fake; the default reader converts each plist with `plutil` (binary plists
 * are common), which exists only on macOS.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { SoftwareItem } from './model.js';
import { isoOrNull, run, statFingerprint, type SoftwareSource } from './sources.js';

export interface Bundle {
  path: string;
  /** Info.plist string values (CFBundleName, CFBundleShortVersionString, CFBundleIdentifier, ...). */
  info: Record<string, string>;
  /** Epoch ms the bundle was last modified (installed or updated). */
  mtimeMs: number | null;
}

export interface BundleReader {
  bundles(): Promise<Bundle[]>;
  /** Directories whose mtime changes when a bundle is added or removed. */
  readonly roots: ReadonlyArray<string>;
}

/** The string values of a plist in XML form (`<key>K</key><string>V</string>`). */
export function parsePlistStrings(xml: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /<key>([^<]*)<\/key>\s*<string>([^<]*)<\/string>/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) out[unescapeXml(m[1]!)] = unescapeXml(m[2]!);
  return out;
}

const unescapeXml = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');

export function itemsFromBundles(bundles: Bundle[]): SoftwareItem[] {
  const out: SoftwareItem[] = [];
  for (const b of bundles) {
    const base = b.path.slice(b.path.lastIndexOf('/') + 1).replace(/\.app$/, '');
    const name = b.info.CFBundleName || b.info.CFBundleDisplayName || base;
    out.push({
      source: 'macos-bundles',
      name: b.info.CFBundleIdentifier || name,
      version: b.info.CFBundleShortVersionString || b.info.CFBundleVersion || '',
      architecture: null,
      installTime: isoOrNull(b.mtimeMs),
      publisher: null,
    });
  }
  return out;
}

/** The real reader: /Applications/*.app and /Applications/<folder>/*.app through `plutil`. */
export class PlutilBundleReader implements BundleReader {
  constructor(readonly roots: ReadonlyArray<string> = ['/Applications']) {}

  async bundles(): Promise<Bundle[]> {
    const paths: string[] = [];
    for (const root of this.roots) {
      for (const e of safeReaddir(root)) {
        const p = join(root, e);
        if (e.endsWith('.app')) paths.push(p);
        else if (!e.startsWith('.')) for (const inner of safeReaddir(p)) if (inner.endsWith('.app')) paths.push(join(p, inner));
      }
    }
    const out: Bundle[] = [];
    for (const path of paths) {
      try {
        const xml = await run('plutil', ['-convert', 'xml1', '-o', '-', join(path, 'Contents', 'Info.plist')], 10_000);
        out.push({ path, info: parsePlistStrings(xml), mtimeMs: statSync(path).mtimeMs });
      } catch {
        /* not a readable bundle */
      }
    }
    return out;
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export class MacBundlesSource implements SoftwareSource {
  readonly name = 'macos-bundles' as const;
  readonly watch;

  constructor(
    private readonly reader: BundleReader = new PlutilBundleReader(),
    private readonly platform: NodeJS.Platform = process.platform,
  ) {
    this.watch = reader.roots.map((dir) => ({ dir, files: 'any' as const }));
  }

  available(): boolean {
    return this.platform === 'darwin';
  }

  /** An app dragged in or out, or replaced by an update, changes its folder's mtime. */
  fingerprint(): string {
    return statFingerprint(this.reader.roots);
  }

  async list(): Promise<SoftwareItem[]> {
    return itemsFromBundles(await this.reader.bundles());
  }
}
