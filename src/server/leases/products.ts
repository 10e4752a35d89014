/**
 * Products and their policy (defaults filled in from the server config), cached while the store's
 * change version holds: an admin change (set-seats, products add; another process or server) is
 * seen by the next request without reading the products table on every renewal. Seat decisions
 * never trust the cache for the seat count: they read it from the row they lock.
 */
import type { ProductPolicy } from '../../protocol/v1.js';
import type { ProductConfig, ServerConfig } from '../config.js';
import { VersionedCache } from '../../shared/versioned-cache.js';
import type { Store } from '../storage/store.js';
import type { ProductRow } from '../storage/types.js';

export interface Product {
  row: ProductRow;
  spec: ProductConfig;
  policy: ProductPolicy;
}

/** Policy of one product, filling defaults from the server config. */
export function productPolicy(spec: ProductConfig, cfg: ServerConfig): ProductPolicy {
  const ttl = spec.leaseTtlSeconds ?? cfg.leases.ttlSeconds;
  const p: ProductPolicy = {
    id: spec.id,
    name: spec.name ?? spec.id,
    match: { executables: spec.match.executables, paths: spec.match.paths },
    licenseType: spec.licenseType,
    seats: seatsOf(spec.licenseType, spec.seats ?? null),
    leaseTtlSeconds: ttl,
    renewAfterSeconds: ttl / 3,
    graceSeconds: spec.graceSeconds ?? cfg.leases.graceSeconds ?? ttl,
    offline: spec.offline,
    onDeny: spec.onDeny,
    queue: spec.queue,
    idle: { afterSeconds: spec.idle.afterSeconds, action: spec.idle.action },
  };
  if (spec.denyMessage !== undefined) p.denyMessage = spec.denyMessage;
  // Only when set: an older agent ignores the field, and the policy ETag of products without it stays.
  if (spec.gate !== undefined) p.gate = spec.gate;
  return p;
}

/** Seats of a product row: null (unlimited) only for a site license without a count. */
export function seatsOf(licenseType: ProductRow['license_type'], seats: number | null): number | null {
  return licenseType === 'site' ? seats : (seats ?? 0);
}

export class ProductCatalog {
  private readonly byId = new VersionedCache<string, Product>();
  /** The whole list, under the one key `all`. */
  private readonly list = new VersionedCache<'all', Product[]>(1);

  constructor(
    private readonly store: Store,
    private readonly cfg: ServerConfig,
  ) {}

  private build(row: ProductRow): Product {
    const spec = { ...(JSON.parse(row.spec) as ProductConfig), seats: row.seats, name: row.name };
    return { row, spec, policy: productPolicy(spec, this.cfg) };
  }

  async get(id: string): Promise<Product | undefined> {
    const version = this.store.changeVersion();
    const hit = this.byId.get(id, version);
    if (hit) return hit;
    const row = await this.store.q.product(id);
    if (!row) return undefined;
    const p = this.build(row);
    this.byId.set(id, p, version);
    return p;
  }

  async all(): Promise<Product[]> {
    const version = this.store.changeVersion();
    const hit = this.list.get('all', version);
    if (hit) return hit;
    const list = (await this.store.q.products()).map((r) => this.build(r));
    // Kept only if nothing changed while it was read (set() drops values read at an older version).
    if (version === this.store.changeVersion()) {
      this.list.set('all', list, version);
      for (const p of list) this.byId.set(p.row.id, p, version);
    }
    return list;
  }

  /** This process changed products (seeding at start). */
  clear(): void {
    this.byId.clear();
    this.list.clear();
  }
}
