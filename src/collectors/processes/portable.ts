/**
 * macOS / Windows sampler: systeminformation.processes() (which uses ps on macOS and WMI/fastlist on
 * Windows) behind the same observation interface as the /proc sampler. It reports CPU as a
 * percentage since the previous call, so CPU seconds are integrated over time (approximate);
 * start times come from the OS in whole seconds. Also usable on Linux (`processes.sampler:
 * "portable"`) for comparison, but /proc is far cheaper there.
 */
import type { ProcessDetails, ProcessObservation, ProcessTracker, SampleClock } from './tracker.js';
import { emptyObservation, Observed } from './tracker.js';

interface SiProcess {
  pid: number;
  parentPid: number;
  name: string;
  cpuu: number;
  cpus: number;
  memVsz: number;
  memRss: number;
  started: string;
  user: string;
  command: string;
  params: string;
  path: string;
}

export interface ProcessSource {
  list(): Promise<SiProcess[]>;
}

export const systeminformationSource: ProcessSource = {
  async list() {
    const si = await import('systeminformation');
    const data = await si.default.processes();
    return data.list as unknown as SiProcess[];
  },
};

export class PortableSampler {
  private readonly cpu = new Map<number, { start: number; user: number; system: number }>();
  private lastMono: number | undefined;
  private readonly obs: ProcessObservation = emptyObservation();
  private readonly anchorWall = Date.now();
  private readonly anchorMono = performance.now();

  constructor(
    private readonly source: ProcessSource = systeminformationSource,
    private readonly recordCommandLine = false,
    private readonly monoNow: () => number = () => performance.now(),
    /** The OS's user names in the site's identity.userFormat (IdentityResolver.formatUser). */
    private readonly formatUser: (name: string) => string = (name) => name,
  ) {}

  clock(): SampleClock {
    const mono = this.monoNow();
    return { mono, wall: this.anchorWall + (mono - this.anchorMono) };
  }

  async sample(tracker: ProcessTracker): Promise<void> {
    const list = await this.source.list();
    const clock = this.clock();
    const dt = this.lastMono === undefined ? 0 : Math.max(0, clock.mono - this.lastMono) / 1000;
    this.lastMono = clock.mono;
    tracker.beginSample(clock);
    const seen = new Set<number>();
    for (const p of list) {
      const startMs = Date.parse(p.started.replace(' ', 'T')) || clock.wall;
      let acc = this.cpu.get(p.pid);
      if (!acc || acc.start !== startMs) {
        acc = { start: startMs, user: 0, system: 0 };
        this.cpu.set(p.pid, acc);
      }
      acc.user += ((p.cpuu || 0) / 100) * dt;
      acc.system += ((p.cpus || 0) / 100) * dt;
      seen.add(p.pid);
      const o = this.obs;
      o.pid = p.pid;
      o.ppid = p.parentPid;
      o.startMs = startMs;
      o.comm = p.name;
      o.cpuUserSeconds = acc.user;
      o.cpuSystemSeconds = acc.system;
      o.rssBytes = (p.memRss || 0) * 1024;
      o.vsizeBytes = (p.memVsz || 0) * 1024;
      if (tracker.observe(o) === Observed.New) {
        const d: ProcessDetails = { uid: null, gid: null, user: p.user ? this.formatUser(p.user) : null, group: null, exe: p.path ? `${p.path}` : null };
        if (this.recordCommandLine) d.cmdline = [p.command, p.params].filter(Boolean).join(' ');
        tracker.setDetails(p.pid, d);
      }
    }
    for (const pid of this.cpu.keys()) if (!seen.has(pid)) this.cpu.delete(pid);
  }
}
