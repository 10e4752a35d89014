/**
 * Which product (if any) a process belongs to, as ProductPolicy.match means it: executable base
 * names (case-insensitive, with or without a Windows `.exe`) and glob patterns on the full
 * executable path (`*` within one path segment, `**` across segments, `?` one character;
 * case-insensitive, `\` read as `/`). The agent decides launches with it; the server joins the
 * software audit to products with it.
 */

export interface MatchRules {
  executables: readonly string[];
  paths: readonly string[];
}

export interface ProcessIdentity {
  /** Full path of the executable (null when it cannot be read). */
  exe: string | null;
  /** Kernel command name (may be truncated to 15 characters on Linux). */
  command: string;
}

const normName = (s: string) => s.toLowerCase().replace(/\.exe$/, '');

export function globToRegExp(glob: string): RegExp {
  const g = glob.replace(/\\/g, '/');
  let re = '';
  for (let i = 0; i < g.length; i++) {
    const c = g[i]!;
    if (c === '*') {
      if (g[i + 1] === '*') {
        i++;
        if (g[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i');
}

export class Matcher<T extends { id: string; match: MatchRules }> {
  private readonly byName = new Map<string, T>();
  private readonly globs: Array<{ re: RegExp; product: T }> = [];

  constructor(products: readonly T[]) {
    for (const p of products) {
      for (const e of p.match.executables) if (!this.byName.has(normName(e))) this.byName.set(normName(e), p);
      for (const g of p.match.paths) this.globs.push({ re: globToRegExp(g), product: p });
    }
  }

  get empty(): boolean {
    return this.byName.size === 0 && this.globs.length === 0;
  }

  match(p: ProcessIdentity): T | undefined {
    const exe = p.exe?.replace(/\\/g, '/');
    if (exe) {
      const base = exe.slice(exe.lastIndexOf('/') + 1);
      const byExe = this.byName.get(normName(base));
      if (byExe) return byExe;
      for (const g of this.globs) if (g.re.test(exe)) return g.product;
      return undefined;
    }
    // No readable exe: the (possibly truncated) command name is all there is.
    const cmd = normName(p.command);
    const exact = this.byName.get(cmd);
    if (exact) return exact;
    if (p.command.length === 15) for (const [name, product] of this.byName) if (name.startsWith(cmd)) return product;
    return undefined;
  }
}
