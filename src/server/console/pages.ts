/**
 * The console's pages, in menu order. A page is a loader (one function: the report engine can
 * replace what it computes) and the filters it honours. Pages still to come from the report
 * engine's other views (heatmap and efficiency curve on the usage page, hourly process accounting)
 * are added here or to a loader.
 */
import { loadActive, loadHarvest, loadWork } from './engine-data.js';
import { loadAgents, loadLeasesNow, loadOffline, loadOverview } from './fleet-data.js';
import type { PageDef } from './model.js';
import { loadProcesses } from './process-data.js';
import { loadDenials, loadUsage, loadUsers } from './usage-data.js';

export const PAGES: readonly PageDef[] = [
  { path: '/', slug: 'overview', title: 'Overview', filters: ['product', 'tz'], load: loadOverview },
  { path: '/usage', slug: 'usage', title: 'Product usage', filters: ['from', 'to', 'product', 'user', 'host', 'tz'], load: loadUsage },
  { path: '/denials', slug: 'denials', title: 'Denials and queue waits', filters: ['from', 'to', 'product', 'user', 'host', 'tz'], load: loadDenials },
  { path: '/users', slug: 'users', title: 'Users', filters: ['from', 'to', 'product', 'user', 'host', 'tz'], load: loadUsers },
  {
    path: '/processes',
    slug: 'processes',
    title: 'Process accounting',
    filters: ['from', 'to', 'product', 'user', 'host', 'group', 'tz'],
    load: loadProcesses,
  },
  { path: '/offline', slug: 'offline', title: 'Offline use', filters: ['from', 'to', 'product', 'user', 'host', 'tz'], load: loadOffline },
  { path: '/active', slug: 'active', title: 'Active vs checked out', filters: ['from', 'to', 'product', 'user', 'host', 'group', 'tz'], load: loadActive },
  { path: '/harvest', slug: 'harvest', title: 'Harvesting ledger', filters: ['from', 'to', 'product', 'user', 'host', 'group', 'tz'], load: loadHarvest },
  { path: '/work', slug: 'work', title: 'Work patterns', filters: ['from', 'to', 'user', 'host', 'group', 'tz'], load: loadWork },
  { path: '/agents', slug: 'agents', title: 'Agents', filters: ['host', 'tz'], load: loadAgents },
  { path: '/leases', slug: 'leases', title: 'Leases and allocations now', filters: ['product', 'user', 'host', 'tz'], load: loadLeasesNow },
];

export const pageBySlug = (slug: string): PageDef | undefined => PAGES.find((p) => p.slug === slug);
