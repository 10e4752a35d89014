/**
 * Software inventory: items, their identity, and the difference between two inventories. Pure
 * functions; the sources (./sources.ts) and the daemon component (./component.ts) do the I/O.
 */

import type { SoftwareFields, SoftwareSourceName } from '../../protocol/v1.js';

export type SourceName = SoftwareSourceName;
/** A `software` record as the collector journals it (the journal adds `seq`). */
export type NewSoftwareRecord = { type: 'software'; time: string; host: string } & SoftwareFields;

/** One installed package or application, as its package system knows it. */
export interface SoftwareItem {
  source: SourceName;
  name: string;
  version: string;
  /** `amd64`, `x86_64`, `all`, `noarch`, ...; null when the source does not say. */
  architecture: string | null;
  /** ISO 8601 UTC, when the source knows it (rpm's INSTALLTIME, dpkg's file-list mtime, ...). */
  installTime: string | null;
  /** Vendor or publisher where the source has one (Windows, snap). */
  publisher?: string | null;
}

/** Same package = same source, name and architecture (a version change is a `changed`). */
export const itemKey = (i: Pick<SoftwareItem, 'source' | 'name' | 'architecture'>) => `${i.source}\u0000${i.name}\u0000${i.architecture ?? ''}`;

export interface InventoryDiff {
  added: SoftwareItem[];
  removed: SoftwareItem[];
  changed: Array<{ item: SoftwareItem; previous: SoftwareItem }>;
}

/** What happened between two inventories of the same sources; each list sorted by key. */
export function diffInventory(previous: ReadonlyMap<string, SoftwareItem>, next: ReadonlyMap<string, SoftwareItem>): InventoryDiff {
  const added: SoftwareItem[] = [];
  const removed: SoftwareItem[] = [];
  const changed: Array<{ item: SoftwareItem; previous: SoftwareItem }> = [];
  for (const key of [...next.keys()].sort()) {
    const item = next.get(key)!;
    const old = previous.get(key);
    if (!old) added.push(item);
    else if (old.version !== item.version) changed.push({ item, previous: old });
  }
  for (const key of [...previous.keys()].sort()) if (!next.has(key)) removed.push(previous.get(key)!);
  return { added, removed, changed };
}

export const diffSize = (d: InventoryDiff) => d.added.length + d.removed.length + d.changed.length;

/** Items by key; a duplicate key keeps the first (a package listed twice is one package). */
export function indexItems(items: Iterable<SoftwareItem>): Map<string, SoftwareItem> {
  const m = new Map<string, SoftwareItem>();
  for (const i of items) {
    const k = itemKey(i);
    if (!m.has(k)) m.set(k, i);
  }
  return m;
}

export type SoftwareChange = SoftwareFields['change'];

export function softwareRecord(
  host: string,
  time: string,
  auditId: string,
  change: SoftwareChange,
  item: SoftwareItem,
  previous?: SoftwareItem,
): NewSoftwareRecord {
  // Field order is part of the contract (README "Records").
  return {
    type: 'software',
    time,
    host,
    change,
    source: item.source,
    name: item.name,
    version: item.version,
    previousVersion: previous ? previous.version : null,
    architecture: item.architecture,
    installTime: item.installTime,
    publisher: item.publisher ?? null,
    auditId,
  };
}

/** Records of one audit: the full inventory (first run), or the delta since the last one. */
export function auditRecords(
  host: string,
  time: string,
  auditId: string,
  full: boolean,
  items: ReadonlyMap<string, SoftwareItem>,
  diff: InventoryDiff,
): NewSoftwareRecord[] {
  if (full) return [...items.keys()].sort().map((k) => softwareRecord(host, time, auditId, 'inventory', items.get(k)!));
  return [
    ...diff.added.map((i) => softwareRecord(host, time, auditId, 'added', i)),
    ...diff.removed.map((i) => softwareRecord(host, time, auditId, 'removed', i)),
    ...diff.changed.map((c) => softwareRecord(host, time, auditId, 'changed', c.item, c.previous)),
  ];
}

/** Compact persisted form: key -> [version, installTime, publisher] (an inventory is thousands of items). */
export type PersistedItems = Record<string, [string, string | null, string | null]>;

export function persistItems(items: ReadonlyMap<string, SoftwareItem>): PersistedItems {
  const out: PersistedItems = {};
  for (const [k, i] of items) out[k] = [i.version, i.installTime, i.publisher ?? null];
  return out;
}

export function restoreItems(p: PersistedItems): Map<string, SoftwareItem> {
  const m = new Map<string, SoftwareItem>();
  for (const [k, [version, installTime, publisher]] of Object.entries(p)) {
    const [source, name, arch] = k.split('\u0000') as [SourceName, string, string];
    m.set(k, { source, name, version, architecture: arch === '' ? null : arch, installTime, ...(publisher !== null ? { publisher } : {}) });
  }
  return m;
}
