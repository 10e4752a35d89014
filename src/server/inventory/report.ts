/**
 * Installed vs used: what the software audit says is installed on each host, against what ran
 * there (process records carry the package that owns their executable; usage events name the
 * product). Pure: the rows come from storage/software.ts.
 *
 * - per package: hosts with it installed, hosts that ran it in the window, the versions installed;
 * - per product: its packages (those whose executables match the product's rules), hosts with any
 *   of them installed, hosts that used the product in the window (a program start or a lease, or a
 *   process of one of its packages);
 * - reclaim candidates: a product installed on a host that did not use it in the window, with the
 *   last use ever known (null: never seen running there).
 */
import { Matcher, type MatchRules } from '../../protocol/match.js';
import type { InstalledRow } from '../storage/software.js';

export interface InventoryInput {
  installed: readonly Pick<InstalledRow, 'host' | 'source' | 'name' | 'version'>[];
  packageUse: readonly { host: string; package: string; package_source: string | null; last_used: string }[];
  packageExecutables: readonly { package: string; exe: string }[];
  productUse: readonly { product: string; host: string; last_used: string }[];
  products: readonly { id: string; name: string; match: MatchRules }[];
  /** Start of the window (ISO); used = last use at or after it. */
  since: string;
}

export interface PackageRow {
  source: string;
  package: string;
  installedHosts: number;
  usedHosts: number;
  unusedHosts: number;
  /** Version -> hosts with it, most common first. */
  versions: Array<{ version: string; hosts: number }>;
}

export interface ProductRow {
  product: string;
  name: string;
  packages: string[];
  installedHosts: number;
  usedHosts: number;
  reclaimCandidates: number;
}

export interface ReclaimRow {
  product: string;
  host: string;
  package: string;
  version: string | null;
  lastUsed: string | null;
}

export interface InventoryReport {
  since: string;
  packages: PackageRow[];
  products: ProductRow[];
  reclaim: ReclaimRow[];
}

const key = (...parts: string[]) => parts.join('\u001f');

export function inventoryReport(input: InventoryInput): InventoryReport {
  const { since } = input;
  // Last use per (host, package) and per (host, product), any time; "used" compares with `since`.
  const pkgLast = new Map<string, string>();
  for (const u of input.packageUse) {
    const k = key(u.host, u.package);
    const prev = pkgLast.get(k);
    if (!prev || u.last_used > prev) pkgLast.set(k, u.last_used);
  }
  const prodLast = new Map<string, string>(input.productUse.map((u) => [key(u.host, u.product), u.last_used]));

  const byPackage = new Map<string, { source: string; name: string; hosts: Map<string, string | null> }>();
  for (const r of input.installed) {
    const k = key(r.source, r.name);
    let p = byPackage.get(k);
    if (!p) byPackage.set(k, (p = { source: r.source, name: r.name, hosts: new Map() }));
    // Several architectures of one package on a host count once (the first version seen).
    if (!p.hosts.has(r.host)) p.hosts.set(r.host, r.version);
  }

  const packages: PackageRow[] = [...byPackage.values()].map((p) => {
    let used = 0;
    const versions = new Map<string, number>();
    for (const [host, version] of p.hosts) {
      const last = pkgLast.get(key(host, p.name));
      if (last !== undefined && last >= since) used++;
      versions.set(version ?? '', (versions.get(version ?? '') ?? 0) + 1);
    }
    return {
      source: p.source,
      package: p.name,
      installedHosts: p.hosts.size,
      usedHosts: used,
      unusedHosts: p.hosts.size - used,
      versions: [...versions].map(([version, hosts]) => ({ version, hosts })).sort((a, b) => b.hosts - a.hosts || a.version.localeCompare(b.version)),
    };
  });
  packages.sort((a, b) => b.installedHosts - a.installedHosts || a.package.localeCompare(b.package) || a.source.localeCompare(b.source));

  // Which packages serve which product: the executables seen running from them.
  const matcher = new Matcher(input.products);
  const packagesOf = new Map<string, Set<string>>();
  for (const { package: pkg, exe } of input.packageExecutables) {
    const product = matcher.match({ exe, command: exe.slice(exe.lastIndexOf('/') + 1) });
    if (!product) continue;
    let set = packagesOf.get(product.id);
    if (!set) packagesOf.set(product.id, (set = new Set()));
    set.add(pkg);
  }

  const products: ProductRow[] = [];
  const reclaim: ReclaimRow[] = [];
  for (const product of input.products) {
    const pkgs = [...(packagesOf.get(product.id) ?? [])].sort();
    // Host -> the first of the product's packages installed there (and its version).
    const hosts = new Map<string, { package: string; version: string | null }>();
    for (const name of pkgs) {
      for (const p of byPackage.values()) {
        if (p.name !== name) continue;
        for (const [host, version] of p.hosts) if (!hosts.has(host)) hosts.set(host, { package: name, version });
      }
    }
    let used = 0;
    for (const [host, inst] of [...hosts].sort((a, b) => a[0].localeCompare(b[0]))) {
      const lastProduct = prodLast.get(key(host, product.id));
      const lastPackage = pkgs
        .map((n) => pkgLast.get(key(host, n)))
        .filter((x): x is string => x !== undefined)
        .sort()
        .pop();
      const last =
        [lastProduct, lastPackage]
          .filter((x): x is string => x !== undefined)
          .sort()
          .pop() ?? null;
      if (last !== null && last >= since) used++;
      else reclaim.push({ product: product.id, host, package: inst.package, version: inst.version, lastUsed: last });
    }
    products.push({
      product: product.id,
      name: product.name,
      packages: pkgs,
      installedHosts: hosts.size,
      usedHosts: used,
      reclaimCandidates: hosts.size - used,
    });
  }
  return { since, packages, products, reclaim };
}
