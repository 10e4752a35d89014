/**
 * The daemon component: samples processes every processes.sampleIntervalMs, reads kernel
 * accounting, merges the two, and journals `process` and `process-interval` records. Offers
 * `ctx.components.processes` (launch/exit notifications) to other components.
 */
import { hasCapability } from '../../host/capabilities.js';
import { existsSync, statSync } from 'node:fs';
import type { Component, DaemonContext } from '../../component/index.js';
import { identityOf } from '../../identity/resolver.js';
import type { NewRecord } from '../../journal/journal.js';
import { accton, agentPacctPath, detectActiveAccounting, ensureFile, findAccton, rotateOwned, SYSTEM_PACCT_FILES } from '../pacct/accounting.js';
import type { PacctRecord } from '../pacct/decode.js';
import { PacctReader, type PacctCursor } from '../pacct/reader.js';
import { AccountingWatch } from '../pacct/watch.js';
import { PortableSampler } from './portable.js';
import { ProcfsReader } from './procfs.js';
import { ExitMerger, type PersistedLedger } from './merge.js';
import { finishPacctOnly, finishSampled, intervalRecord, type ProcessRecord } from './records.js';
import { ProcessTracker, type PersistedInterval, type TrackedProcess } from './tracker.js';
import { ProcessWatcher } from './watcher.js';

export const INTERVAL_CURSOR = 'processes.intervals';
export const pacctCursorKey = (path: string) => `pacct:${path}`;
/** The identities emitted as `ps` (see merge.ts), committed with those records. */
export const EMITTED_CURSOR = 'processes.emitted';

type PacctState = { mode: 'off'; reason: string } | { mode: 'file' | 'auto'; file: string; owned: boolean; reader: PacctReader; accton: string | null };

export function createProcessesComponent(ctx: DaemonContext): Component | undefined {
  const cfg = ctx.config.processes;
  if (!cfg.enabled) return undefined;
  const log = ctx.logger.child({ component: 'processes' });
  const names = identityOf(ctx);
  const linux = process.platform === 'linux';
  const useProcfs = cfg.sampler === 'procfs' || (cfg.sampler === 'auto' && linux);
  if (cfg.sampler === 'procfs' && !existsSync('/proc/self/stat')) {
    throw new Error('processes.sampler is "procfs" but /proc is not available on this system');
  }
  const procfs = linux ? new ProcfsReader({ names, recordCommandLine: cfg.recordCommandLine }) : undefined;
  const portable = useProcfs ? undefined : new PortableSampler(undefined, cfg.recordCommandLine, undefined, (n) => names.formatUser(n));
  const tracker = new ProcessTracker();
  const host = ctx.host.hostname;
  const withCmd = cfg.recordCommandLine;
  const watcher = procfs ? new ProcessWatcher(procfs, ctx.config.leases.launchPollMs, (err) => log.warn({ err }, 'launch poll failed')) : undefined;
  if (watcher) ctx.components.processes = watcher;

  let pacct: PacctState = { mode: 'off', reason: cfg.pacct === 'off' ? 'processes.pacct is "off"' : 'not started' };
  let merger = new ExitMerger();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let lastSampleMs = 0;
  let interval: PersistedRestore | undefined;
  const emitted = { ps: 0, pacct: 0, both: 0, intervals: 0, duplicatesSuppressed: 0 };
  const watch = new AccountingWatch();
  let psAtLastRead = 0;

  // Product executables (prefetched by the enforcer at launch) carry the package that installed them.
  const withPackage = <T extends { exe: string | null }>(r: T): T => {
    if (!r.exe) return r;
    const owner = ctx.components.packages?.cached(r.exe);
    if (!owner) return r;
    return { ...r, package: owner.package, packageVersion: owner.version, packageSource: owner.source };
  };
  const append = (r: ProcessRecord | ReturnType<typeof intervalRecord>) => ctx.journal.append(withPackage(r) as unknown as NewRecord);

  const emitFinished = (p: TrackedProcess, a: PacctRecord | null) => {
    const f = finishSampled(host, p, a, withCmd, names);
    for (const iv of f.intervals) append(iv);
    emitted.intervals += f.intervals.length;
    append(f.record);
    emitted[f.record.source]++;
    if (pacct.mode !== 'off') merger.emitted(f.record.source, p.pid, p.startMs, a ? a.command : p.comm, Date.now());
  };

  /** pacct's wall-clock btime -> the sampler's timeline (corrects a wall-clock step since start). */
  let clockOffsetMs = 0;
  const measureClockOffset = () => {
    if (!procfs || !useProcfs) return;
    const up = procfs.readUptimeMs();
    if (Number.isFinite(up)) clockOffsetMs = procfs.bootTimeMs - (Date.now() - up);
  };

  const onPacct = (a: PacctRecord, cursor: PacctCursor, key: string) => {
    const d = merger.onPacct(a, (pid) => tracker.get(pid), clockOffsetMs);
    if (d.kind === 'both') {
      if (d.live) tracker.takeLive(d.p.pid, d.p.startMs, 0); // its lingering /proc entry is ignored
      emitFinished(d.p, a);
    } else if (d.kind === 'pacct') {
      append(finishPacctOnly(host, a, names, withCmd));
      emitted.pacct++;
      merger.emitted('pacct', a.pid, a.btime * 1000 + clockOffsetMs, a.command, Date.now());
    } else {
      emitted.duplicatesSuppressed++;
      log.debug({ pid: a.pid, command: a.command, emittedAs: d.of.source }, 'pacct record of a process already emitted; not counted again');
    }
    // Same transaction as the record it follows: exactly once across crashes.
    ctx.journal.setCursor(key, cursor);
  };

  /** Sampled exits whose pacct record did not come: `ps` records, their identities committed with them. */
  const emitDue = (final: boolean) => {
    const due = merger.due(performance.now(), pacct.mode !== 'off', final);
    for (const p of due) emitFinished(p, null);
    if (pacct.mode === 'off') return;
    merger.prune(Date.now());
    const ledger = merger.takePersist();
    if (ledger) ctx.journal.setCursor(EMITTED_CURSOR, ledger);
  };

  const pollPacct = () => {
    if (pacct.mode === 'off') return;
    const st = pacct;
    const key = pacctCursorKey(st.file);
    measureClockOffset();
    const read = st.reader.poll((a, c) => onPacct(a, c, key));
    merger.pacctRead();
    if (watch.afterRead(Date.now(), read, emitted.ps - psAtLastRead)) {
      const others = [...(st.owned ? [] : [agentPacctPath(ctx.dataDir)]), ...SYSTEM_PACCT_FILES].filter((f) => f !== st.file);
      const grew = detectActiveAccounting([st.file, ...others]);
      const was = watch.status.state;
      watch.probed(Date.now(), grew === st.file, grew === st.file ? null : grew);
      if (watch.status.state !== was) {
        if (watch.status.state === 'lost')
          log.error({ file: st.file, writesTo: grew }, 'kernel accounting no longer writes to the pacct file read (another program ran accton?)');
        else log.info({ file: st.file }, 'kernel accounting writes to the pacct file again');
      }
    }
    psAtLastRead = emitted.ps;
    if (st.owned && st.accton) {
      let size = 0;
      try {
        size = statSync(st.file).size;
      } catch {
        /* recreated below */
      }
      if (size >= cfg.pacctRotateBytes) {
        try {
          rotateOwned(st.accton, st.file);
          st.reader.poll((a, c) => onPacct(a, c, key));
          log.info({ file: st.file, bytes: size }, 'rotated pacct file');
        } catch (err) {
          log.error({ err, file: st.file }, 'pacct rotation failed');
        }
      }
    }
  };

  const sampleOnce = async () => {
    const t0 = performance.now();
    if (procfs && useProcfs) procfs.sample(tracker);
    else await portable!.sample(tracker);
    if (interval) {
      for (const [pid, s] of Object.entries(interval.state)) tracker.restoreIntervalState(Number(pid), s.startMs, s);
      interval = undefined;
    }
    const { exited, intervals } = tracker.endSample();
    for (const { process: p, interval: iv } of intervals) append(intervalRecord(null, iv, p, host, withCmd, names));
    emitted.intervals += intervals.length;
    if (intervals.length > 0) ctx.journal.setCursor(INTERVAL_CURSOR, tracker.intervalState());
    merger.addExited(exited, performance.now());
    pollPacct();
    // Exits not matched by pacct: after one more pacct read (and waitMs) they are `ps` only.
    emitDue(false);
    lastSampleMs = performance.now() - t0;
  };

  const runTick = () => {
    if (running) return; // a slow sample (portable sampler) never overlaps the next
    running = sampleOnce()
      .catch((err) => log.error({ err }, 'process sample failed'))
      .finally(() => {
        running = undefined;
      });
  };

  const setupPacct = (): PacctState => {
    if (cfg.pacct === 'off') return { mode: 'off', reason: 'processes.pacct is "off"' };
    if (!linux) return { mode: 'off', reason: 'kernel process accounting is read on Linux only' };
    const acctonPath = findAccton();
    const reader = (file: string, startAtEndIfNew: boolean) => {
      const saved = ctx.journal.getCursor<PacctCursor>(pacctCursorKey(file));
      let cursor = saved;
      if (!cursor && startAtEndIfNew) {
        // First run on a system file: its history predates the agent; start at its end.
        try {
          const st = statSync(file);
          cursor = { dev: st.dev, ino: st.ino, offset: st.size - (st.size % 64) };
        } catch {
          /* not there yet */
        }
      }
      return new PacctReader(file, cursor);
    };
    if (cfg.pacct !== 'auto') {
      return { mode: 'file', file: cfg.pacct, owned: false, reader: reader(cfg.pacct, true), accton: null };
    }
    const own = agentPacctPath(ctx.dataDir);
    const active = detectActiveAccounting([own, ...SYSTEM_PACCT_FILES]);
    if (active === own) {
      log.info({ file: own }, 'kernel accounting already writes to the agent file (left on by a previous run); adopting it');
      return { mode: 'auto', file: own, owned: true, reader: reader(own, false), accton: acctonPath };
    }
    if (active) {
      log.info({ file: active }, 'kernel accounting is active; reading its file');
      return { mode: 'auto', file: active, owned: false, reader: reader(active, true), accton: null };
    }
    if (!hasCapability('CAP_SYS_PACCT'))
      return { mode: 'off', reason: 'accounting is not active and the agent lacks CAP_SYS_PACCT to switch it on (the installed unit grants it)' };
    if (!acctonPath) return { mode: 'off', reason: 'accton not found (install the acct/psacct package)' };
    ensureFile(own);
    accton(acctonPath, own);
    log.info({ file: own }, 'switched kernel process accounting on');
    return { mode: 'auto', file: own, owned: true, reader: reader(own, false), accton: acctonPath };
  };

  return {
    name: 'processes',
    start() {
      try {
        pacct = setupPacct();
      } catch (err) {
        log.error({ err }, 'kernel process accounting unavailable; sampling only');
        pacct = { mode: 'off', reason: `error: ${String((err as Error).message ?? err)}` };
      }
      if (procfs) procfs.ignoreNewZombies = pacct.mode !== 'off';
      const saved = ctx.journal.getCursor<Record<string, PersistedInterval & { startMs: number }>>(INTERVAL_CURSOR);
      if (saved) interval = { state: saved };
      merger = new ExitMerger({}, ctx.journal.getCursor<PersistedLedger>(EMITTED_CURSOR) ?? undefined);
      runTick();
      timer = setInterval(runTick, cfg.sampleIntervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      watcher?.stop();
      await running;
      procfs?.close(); // the kept /proc/PID/stat descriptors
      try {
        pollPacct();
      } catch (err) {
        log.warn({ err }, 'last pacct read failed');
      }
      // Exits still waiting for pacct are emitted now (as `ps`) rather than lost; a record that
      // arrives after the restart is recognised through the persisted ledger.
      emitDue(true);
      if (pacct.mode !== 'off') {
        pacct.reader.close();
        // Not when another program has taken accounting over: it is that program's now.
        if (pacct.owned && pacct.accton && watch.status.state !== 'lost') {
          try {
            accton(pacct.accton, 'off');
            log.info('switched kernel process accounting off');
          } catch (err) {
            log.warn({ err }, 'could not switch kernel process accounting off');
          }
        }
      }
    },
    status() {
      return {
        sampler: useProcfs ? 'procfs' : 'portable',
        sampleIntervalMs: cfg.sampleIntervalMs,
        processesTracked: tracker.size,
        samplesTaken: tracker.samplesTaken,
        lastSampleMs: Math.round(lastSampleMs * 1000) / 1000,
        statDescriptorsKept: procfs?.keptDescriptors ?? 0,
        pendingExits: merger.pendingCount,
        zombiesIgnored: procfs?.zombiesIgnored ?? 0,
        emittedLedger: merger.ledgerSize(),
        recordsEmitted: emitted,
        identity: names.stats(),
        launchWatcher: watcher
          ? { pollMs: ctx.config.leases.launchPollMs, polls: watcher.polls, scans: watcher.scans, probes: watcher.probes, execs: watcher.execs }
          : null,
        pacct:
          pacct.mode === 'off'
            ? { mode: 'off', reason: pacct.reason }
            : { mode: cfg.pacct === 'auto' ? 'auto' : 'file', file: pacct.file, ownedByAgent: pacct.owned, ...pacct.reader.stats(), accounting: watch.status },
      };
    },
  };
}

interface PersistedRestore {
  state: Record<string, PersistedInterval & { startMs: number }>;
}
