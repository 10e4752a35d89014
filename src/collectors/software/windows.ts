/**
 * Windows: the Uninstall keys of the registry (what "Apps & features" lists), 64-bit and 32-bit
 * views, machine-wide. Read through a RegistryReader so the logic is tested here with a fake
 * (the default reader runs `reg query`, which exists only on Windows).
 */
import type { SoftwareItem } from './model.js';
import { isoOrNull, run, type SoftwareSource } from './sources.js';

export const UNINSTALL_KEYS = [
  { key: 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall', architecture: 'x64' },
  { key: 'HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall', architecture: 'x86' },
] as const;

/** One subkey of an Uninstall key: its name and its string/number values. */
export interface UninstallEntry {
  key: string;
  architecture: string | null;
  values: Record<string, string>;
}

export interface RegistryReader {
  uninstallEntries(): Promise<UninstallEntry[]>;
}

/** `reg query KEY /s` output -> one entry per subkey (values are `    Name    REG_TYPE    data`). */
export function parseRegQuery(text: string, architecture: string | null): UninstallEntry[] {
  const out: UninstallEntry[] = [];
  let current: UninstallEntry | undefined;
  for (const raw of text.split(/\r?\n/)) {
    if (!raw.trim()) continue;
    if (/^HKEY_|^HK[A-Z]{2}\\/.test(raw)) {
      current = { key: raw.trim(), architecture, values: {} };
      out.push(current);
      continue;
    }
    const m = /^\s+(.+?)\s{4}(REG_[A-Z_]+)\s{4}(.*)$/.exec(raw) ?? /^\s+(.+?)\s{4}(REG_[A-Z_]+)$/.exec(raw);
    if (!m || !current) continue;
    let value = m[3] ?? '';
    if (m[2] === 'REG_DWORD' && /^0x[0-9a-f]+$/i.test(value)) value = String(Number.parseInt(value, 16));
    current.values[m[1]!] = value;
  }
  // The Uninstall key itself (no DisplayName) is a header, not an entry.
  return out.filter((e) => Object.keys(e.values).length > 0);
}

/**
 * Entries as "Apps & features" shows them: a DisplayName, not a system component, not an update
 * of another entry (ParentKeyName), not a Windows update (ReleaseType).
 */
export function itemsFromUninstall(entries: UninstallEntry[]): SoftwareItem[] {
  const out: SoftwareItem[] = [];
  for (const e of entries) {
    const v = e.values;
    const name = v.DisplayName?.trim();
    if (!name || v.SystemComponent === '1' || v.ParentKeyName || /update|hotfix/i.test(v.ReleaseType ?? '')) continue;
    const d = /^(\d{4})(\d{2})(\d{2})$/.exec(v.InstallDate ?? '');
    out.push({
      source: 'windows-registry',
      name,
      version: v.DisplayVersion?.trim() ?? '',
      architecture: e.architecture,
      installTime: d ? isoOrNull(Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]))) : null,
      publisher: v.Publisher?.trim() || null,
    });
  }
  return out;
}

/** The real reader: `reg query` of both views (Windows only). */
export class RegQueryReader implements RegistryReader {
  async uninstallEntries(): Promise<UninstallEntry[]> {
    const out: UninstallEntry[] = [];
    for (const k of UNINSTALL_KEYS) {
      try {
        out.push(...parseRegQuery(await run('reg', ['query', k.key, '/s']), k.architecture));
      } catch {
        /* the 32-bit view does not exist on 32-bit Windows */
      }
    }
    return out;
  }
}

export class WindowsRegistrySource implements SoftwareSource {
  readonly name = 'windows-registry' as const;
  // Registry changes have no file to watch: start, daily audits (and the fingerprint-less rule).
  readonly watch = [] as const;

  constructor(
    private readonly reader: RegistryReader = new RegQueryReader(),
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  available(): boolean {
    return this.platform === 'win32';
  }

  fingerprint(): null {
    return null;
  }

  async list(): Promise<SoftwareItem[]> {
    return itemsFromUninstall(await this.reader.uninstallEntries());
  }
}
