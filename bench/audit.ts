/**
 * `audit`: the software audit on this machine (every package source present, dpkg on Debian).
 * - first inventory: SoftwareAuditor.check('full') on an empty journal (list, diff, journal every
 *   record and event 24, commit): CPU and wall time;
 * - no-change re-check: check('cheap') with nothing changed (what the daemon does every
 *   software.recheckSeconds and after a change notification that changed nothing): per check;
 * - alternatives in the same run, per check: re-listing every source without the fingerprint
 *   (check('full') with nothing changed) and spawning `dpkg-query -W` (what a collector that asks
 *   the package manager each time pays; its child's CPU is counted through cutime/cstime);
 * - the first upload: the journal's records as one EventsUploadRequest body (bytes, and gzipped).
 * CPU = this process's process.cpuUsage() plus the CPU of waited-for children.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { SoftwareAuditor } from '../src/collectors/software/auditor.js';
import { selectSources } from '../src/collectors/software/component.js';
import { Journal } from '../src/journal/journal.js';
import { childrenCpuMs } from './sampler.js';

const RECHECKS = 500;
const RELISTS = 10;
const SPAWNS = 10;
const TARGET_RECHECK_CPU_MS = 20;

async function timed(n: number, fn: () => unknown): Promise<{ cpuMs: number; wallMs: number }> {
  const c0 = process.cpuUsage();
  const k0 = childrenCpuMs();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { cpuMs: r(((c.user + c.system) / 1000 + (childrenCpuMs() - k0)) / n), wallMs: r(wall / n) };
}

const r = (x: number) => Math.round(x * 1000) / 1000;

export default async function audit(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-audit-'));
  const journal = Journal.open(join(dir, 'journal.db'));
  try {
    const { sources } = selectSources('auto');
    if (sources.length === 0) throw new Error('no package source on this machine');
    const auditor = new SoftwareAuditor(journal, 'bench-host', sources);
    let first: Awaited<ReturnType<SoftwareAuditor['check']>> | undefined;
    const firstInventory = await timed(1, async () => {
      first = await auditor.check('full');
    });
    if (first?.result !== 'inventory') throw new Error(`first audit was ${first?.result}`);
    const records = journal.read();
    const body = Buffer.from(JSON.stringify({ records: records.map((x) => ({ ...x, host: 'bench-host' })) }));

    await auditor.check('cheap'); // warm-up
    const recheck = await timed(RECHECKS, async () => {
      const o = await auditor.check('cheap');
      if (o.result !== 'unchanged') throw new Error(`a no-change re-check found ${o.result} (did packages change during the bench?)`);
    });
    const relist = await timed(RELISTS, () => auditor.check('full'));
    const dpkgQuery = sources.some((s) => s.name === 'dpkg')
      ? await timed(SPAWNS, () => spawnSync('dpkg-query', ['-W'], { stdio: ['ignore', 'ignore', 'ignore'] }))
      : null;
    return {
      sources: sources.map((s) => s.name),
      items: first.total,
      firstInventory,
      noChangeRecheck: { ...recheck, checks: RECHECKS },
      alternativesPerCheck: { relistWithoutFingerprint: relist, ...(dpkgQuery ? { dpkgQuerySpawn: dpkgQuery } : {}) },
      ratios: {
        relistOverRecheckCpu: r(relist.cpuMs / recheck.cpuMs),
        ...(dpkgQuery ? { dpkgQueryOverRecheckCpu: r(dpkgQuery.cpuMs / recheck.cpuMs) } : {}),
      },
      firstUpload: { records: records.length, bytes: body.length, gzipBytes: gzipSync(body).length, bytesPerItem: Math.round(body.length / first.total) },
      targets: { noChangeRecheckCpuMs: `<= ${TARGET_RECHECK_CPU_MS}` },
      met: { noChangeRecheckCpuMs: recheck.cpuMs <= TARGET_RECHECK_CPU_MS },
      loadavg: (await import('node:os')).loadavg().map(r),
    };
  } finally {
    journal.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
