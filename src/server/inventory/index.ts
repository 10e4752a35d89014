/** The software audit on the server: reads the store, builds the installed-vs-used report. */
import type { Product } from '../leases/products.js';
import { installed, packageExecutables, packageUse, productUse } from '../storage/software.js';
import type { Store } from '../storage/store.js';
import { inventoryReport, type InventoryReport } from './report.js';

export { inventoryReport, type InventoryReport, type PackageRow, type ProductRow, type ReclaimRow } from './report.js';

/** The report over a window of `days` ending `now`. */
export async function loadInventoryReport(store: Store, products: readonly Product[], days: number, now: number): Promise<InventoryReport> {
  const sql = store.q.sql;
  const [inst, pkgUse, exes, prodUse] = await Promise.all([installed(sql), packageUse(sql), packageExecutables(sql), productUse(sql)]);
  return inventoryReport({
    installed: inst,
    packageUse: pkgUse,
    packageExecutables: exes,
    productUse: prodUse,
    products: products.map((p) => ({ id: p.policy.id, name: p.policy.name, match: p.policy.match })),
    since: new Date(now - days * 86_400_000).toISOString(),
  });
}
