/**
 * The `software` daemon component: audits installed software at start, on package-database
 * changes (fs.watch, i.e. inotify, on the dpkg/rpm/flatpak/snap databases, settled for
 * software.settleMs), every software.recheckSeconds as a cheap stat-only check (in case a change
 * notification was missed), and fully every software.auditHours. Offers
 * `ctx.components.packages` (which package owns an executable) for product process records.
 */
import { watch, type FSWatcher } from 'node:fs';
import type { Component, DaemonContext } from '../../component/index.js';
import { SoftwareAuditor, type AuditOutcome, type CheckMode } from './auditor.js';
import { DpkgSource } from './dpkg.js';
import { FlatpakSource } from './flatpak.js';
import { MacBundlesSource } from './macos.js';
import type { SourceName } from './model.js';
import { PackageOwners } from './owners.js';
import { RpmSource } from './rpm.js';
import { SnapSource } from './snap.js';
import type { SoftwareSource } from './sources.js';
import { WindowsRegistrySource } from './windows.js';

export const SOURCE_FACTORIES: Record<SourceName, () => SoftwareSource> = {
  dpkg: () => new DpkgSource(),
  rpm: () => new RpmSource(),
  flatpak: () => new FlatpakSource(),
  snap: () => new SnapSource(),
  'windows-registry': () => new WindowsRegistrySource(),
  'macos-bundles': () => new MacBundlesSource(),
};

/** `auto`: every source present here; a named one that is absent is reported, not fatal. */
export function selectSources(wanted: 'auto' | readonly SourceName[], factories = SOURCE_FACTORIES): { sources: SoftwareSource[]; absent: SourceName[] } {
  const names = wanted === 'auto' ? (Object.keys(factories) as SourceName[]) : [...new Set(wanted)];
  const sources: SoftwareSource[] = [];
  const absent: SourceName[] = [];
  for (const n of names) {
    const s = factories[n]();
    if (s.available()) sources.push(s);
    else absent.push(n);
  }
  return { sources, absent };
}

export interface SoftwareTimings {
  recheckMs: number;
  auditMs: number;
  settleMs: number;
  /** A busy package manager is looked at again after this long. */
  busyRetryMs?: number;
}

/**
 * Schedules checks for an auditor: one at a time, a request during a check runs once after it.
 * Exported for tests (fake sources, short timings).
 */
export class AuditScheduler {
  private running: Promise<void> | undefined;
  private again: CheckMode | undefined;
  private timers: NodeJS.Timeout[] = [];
  private settleTimer: NodeJS.Timeout | undefined;
  private watchers: FSWatcher[] = [];
  private stopped = false;
  readonly stats = { checks: 0, cheapChecks: 0, fullAudits: 0, changeNotifications: 0, lastCheck: null as null | Record<string, unknown> };

  constructor(
    readonly auditor: SoftwareAuditor,
    private readonly timings: SoftwareTimings,
    private readonly onOutcome: (o: AuditOutcome, mode: CheckMode, cpuMs: number, wallMs: number) => void = () => undefined,
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {}

  start(): void {
    const last = this.auditor.lastFullAuditAt ? Date.parse(this.auditor.lastFullAuditAt) : NaN;
    const sinceFull = Date.now() - last;
    // At start: a full audit if none was done within auditMs (always on the first run), else
    // cheap, and the next full audit when the last one is auditMs old (restarts do not delay it).
    const recentFull = Number.isFinite(sinceFull) && sinceFull >= 0 && sinceFull < this.timings.auditMs;
    this.request(recentFull ? 'cheap' : 'full');
    const recheck = setInterval(() => this.request('cheap'), this.timings.recheckMs);
    recheck.unref();
    this.timers.push(recheck);
    const first = setTimeout(
      () => {
        this.request('full');
        const daily = setInterval(() => this.request('full'), this.timings.auditMs);
        daily.unref();
        this.timers.push(daily);
      },
      recentFull ? this.timings.auditMs - sinceFull : this.timings.auditMs,
    );
    first.unref();
    this.timers.push(first);
    for (const s of this.auditor.sources) {
      for (const w of s.watch) {
        try {
          const watcher = watch(w.dir, { persistent: false }, (_event, file) => {
            if (w.files !== 'any' && file !== null && !w.files.includes(String(file))) return;
            this.stats.changeNotifications++;
            this.changed();
          });
          watcher.on('error', () => undefined); // the directory went away: rechecks still run
          this.watchers.push(watcher);
        } catch {
          /* not watchable (missing, no inotify): the periodic recheck covers it */
        }
      }
    }
  }

  /** A package database changed: check once it has been quiet for settleMs. */
  changed(): void {
    if (this.stopped) return;
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      this.request('cheap');
    }, this.timings.settleMs);
    this.settleTimer.unref();
  }

  request(mode: CheckMode): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = this.again === 'full' || mode === 'full' ? 'full' : 'cheap';
      return;
    }
    this.running = this.runCheck(mode).finally(() => {
      this.running = undefined;
      const next = this.again;
      this.again = undefined;
      if (next) this.request(next);
    });
  }

  /** Resolves when no check is running or queued. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t); // clears intervals too
    if (this.settleTimer) clearTimeout(this.settleTimer);
    for (const w of this.watchers) w.close();
    await this.running;
  }

  private async runCheck(mode: CheckMode): Promise<void> {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    try {
      const o = await this.auditor.check(mode);
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      const wallMs = performance.now() - t0;
      this.stats.checks++;
      if (mode === 'full') this.stats.fullAudits++;
      else this.stats.cheapChecks++;
      this.stats.lastCheck = {
        mode,
        at: new Date().toISOString(),
        result: o.result,
        records: o.records,
        listed: o.listed,
        cpuMs: round(cpuMs),
        wallMs: round(wallMs),
      };
      if (o.busy.length > 0) this.changed(); // dpkg mid-run: look again once it is quiet
      this.onOutcome(o, mode, cpuMs, wallMs);
    } catch (err) {
      this.onError(err);
    }
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export function createSoftwareComponent(ctx: DaemonContext): Component | undefined {
  const cfg = ctx.config.software;
  if (!cfg.enabled) return undefined;
  const log = ctx.logger.child({ component: 'software' });
  const owners = new PackageOwners();
  ctx.components.packages = owners;
  let scheduler: AuditScheduler | undefined;
  let absent: SourceName[] = [];
  return {
    name: 'software',
    start() {
      const selected = selectSources(cfg.sources);
      absent = selected.absent;
      if (cfg.sources !== 'auto' && absent.length > 0) log.warn({ absent }, 'configured software sources are not present on this system');
      const auditor = new SoftwareAuditor(ctx.journal, ctx.host.hostname, selected.sources, log);
      scheduler = new AuditScheduler(
        auditor,
        { recheckMs: cfg.recheckSeconds * 1000, auditMs: cfg.auditHours * 3_600_000, settleMs: cfg.settleMs },
        (o, mode, cpuMs, wallMs) => {
          if (o.records > 0 || o.listed.length > 0) owners.invalidate();
          const level = o.result === 'unchanged' || o.result === 'busy' ? 'debug' : 'info';
          log[level]({ mode, ...o, cpuMs: round(cpuMs), wallMs: round(wallMs) }, 'software audit checked');
        },
        (err) => log.error({ err }, 'software audit failed'),
      );
      scheduler.start();
    },
    async stop() {
      await scheduler?.stop();
    },
    status() {
      return {
        sources: scheduler?.auditor.sources.map((s) => s.name) ?? [],
        absent,
        items: scheduler?.auditor.total() ?? 0,
        lastFullAuditAt: scheduler?.auditor.lastFullAuditAt ?? null,
        ...(scheduler?.stats ?? {}),
      };
    },
  };
}
