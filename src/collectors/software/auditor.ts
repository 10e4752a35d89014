/**
 * One software audit over every source: cheap checks (fingerprints), listing what changed,
 * journaling the full inventory (first audit of a source) or the delta, and event 24 (audited).
 * The last inventory per source is a journal cursor committed in the same transaction as the
 * records that describe it, so a crash or restart neither loses a delta nor sends an inventory
 * twice.
 */
import { randomUUID } from 'node:crypto';
import type { Journal } from '../../journal/journal.js';
import type { Logger } from '../../log/logger.js';
import { EventCode } from '../../protocol/event-codes.js';
import {
  auditRecords,
  diffInventory,
  diffSize,
  indexItems,
  persistItems,
  restoreItems,
  type InventoryDiff,
  type PersistedItems,
  type SoftwareItem,
} from './model.js';
import type { SoftwareSource } from './sources.js';

export const SOFTWARE_CURSOR = 'software.inventory';
/** `product` of the audit's usage event (the field is required; an audit is about no one product). */
export const AUDIT_PRODUCT = 'software-audit';

interface PersistedSource {
  fingerprint: string | null;
  items: PersistedItems;
}
export interface PersistedAudit {
  version: 1;
  sources: Record<string, PersistedSource>;
  lastFullAuditAt: string | null;
}

/** `cheap`: list only sources whose fingerprint moved; `full`: list every source (daily). */
export type CheckMode = 'cheap' | 'full';

export interface AuditOutcome {
  /** `unchanged`: nothing journaled; `busy`: a package manager is mid-change, check again soon. */
  result: 'unchanged' | 'inventory' | 'delta' | 'audited' | 'busy';
  auditId: string | null;
  records: number;
  added: number;
  removed: number;
  changed: number;
  /** Items in the current inventory, all sources. */
  total: number;
  listed: string[];
  busy: string[];
  failed: string[];
}

export class SoftwareAuditor {
  /** Per audited source: its fingerprint at the last listing and its inventory since. */
  private readonly audited = new Map<string, { fingerprint: string | null; items: Map<string, SoftwareItem> }>();
  private lastFull: string | null;

  constructor(
    private readonly journal: Journal,
    private readonly host: string,
    readonly sources: readonly SoftwareSource[],
    private readonly log?: Logger,
    private readonly now: () => number = Date.now,
  ) {
    const saved = journal.getCursor<PersistedAudit>(SOFTWARE_CURSOR);
    this.lastFull = saved?.version === 1 ? saved.lastFullAuditAt : null;
    if (saved?.version === 1) {
      for (const [name, s] of Object.entries(saved.sources)) this.audited.set(name, { fingerprint: s.fingerprint, items: restoreItems(s.items) });
    }
  }

  get lastFullAuditAt(): string | null {
    return this.lastFull;
  }

  /** Whether this source has been inventoried before (its next audit sends deltas). */
  known(source: string): boolean {
    return this.audited.has(source);
  }

  total(): number {
    let n = 0;
    for (const k of this.audited.values()) n += k.items.size;
    return n;
  }

  /** The cursor value, built only when it is written (the inventory is kept once, as the maps). */
  private persisted(): PersistedAudit {
    const sources: Record<string, PersistedSource> = {};
    for (const [name, k] of this.audited) sources[name] = { fingerprint: k.fingerprint, items: persistItems(k.items) };
    return { version: 1, sources, lastFullAuditAt: this.lastFull };
  }

  async check(mode: CheckMode): Promise<AuditOutcome> {
    const out: AuditOutcome = { result: 'unchanged', auditId: null, records: 0, added: 0, removed: 0, changed: 0, total: 0, listed: [], busy: [], failed: [] };
    const listedNow: Array<{ source: SoftwareSource; fingerprint: string | null; items: Map<string, SoftwareItem> }> = [];
    for (const source of this.sources) {
      const prev = this.audited.get(source.name);
      const fingerprint = source.fingerprint();
      // The cheap path: one or two stats, nothing read. Fingerprint-less sources wait for the daily audit.
      if (mode === 'cheap' && prev && (fingerprint === null || fingerprint === prev.fingerprint)) continue;
      if (source.busy?.()) {
        out.busy.push(source.name);
        continue;
      }
      try {
        listedNow.push({ source, fingerprint, items: indexItems(await source.list()) });
        out.listed.push(source.name);
      } catch (err) {
        out.failed.push(source.name);
        this.log?.warn({ err, source: source.name }, 'software source could not be listed; keeping its last inventory');
      }
    }
    const time = new Date(this.now()).toISOString();
    const auditId = randomUUID();
    const records: ReturnType<typeof auditRecords> = [];
    let full = false;
    let stateChanged = false;
    for (const { source, fingerprint, items } of listedNow) {
      const prev = this.audited.get(source.name);
      const first = prev === undefined;
      const diff: InventoryDiff = first ? { added: [], removed: [], changed: [] } : diffInventory(prev.items, items);
      if (first || diffSize(diff) > 0) {
        records.push(...auditRecords(this.host, time, auditId, first, items, diff));
        this.audited.set(source.name, { fingerprint, items });
        stateChanged = true;
        full ||= first;
        out.added += diff.added.length;
        out.removed += diff.removed.length;
        out.changed += diff.changed.length;
      } else if (prev.fingerprint !== fingerprint) {
        // Database rewritten without a change in what is installed: remember the new fingerprint.
        prev.fingerprint = fingerprint;
        stateChanged = true;
      }
    }
    out.total = this.total();
    const audited = mode === 'full' && out.failed.length < this.sources.length;
    if (records.length > 0 || audited) {
      out.auditId = auditId;
      out.records = records.length;
      out.result = full ? 'inventory' : records.length > 0 ? 'delta' : 'audited';
      for (const r of records) this.journal.append({ ...r });
      this.journal.append({
        type: 'usage-event',
        time,
        host: this.host,
        code: EventCode.audited,
        product: AUDIT_PRODUCT,
        reason: out.result === 'audited' ? 'unchanged' : out.result,
        auditId,
        packages: out.total,
        added: out.added,
        removed: out.removed,
        changed: out.changed,
        sources: this.sources
          .filter((s) => this.audited.has(s.name))
          .map((s) => s.name)
          .join(','),
      });
    }
    if (audited) {
      this.lastFull = time;
      stateChanged = true;
    }
    if (out.busy.length > 0 && out.result === 'unchanged') out.result = 'busy';
    if (stateChanged) {
      // Same transaction as the records above: the inventory and its description commit together.
      this.journal.setCursor(SOFTWARE_CURSOR, this.persisted());
      try {
        this.journal.flush();
      } catch (err) {
        this.log?.warn({ err }, 'journal flush after the software audit failed; it stays buffered');
      }
    }
    return out;
  }
}
