/**
 * Is kernel accounting still writing to the file the agent reads? Accounting is one system-wide
 * setting: another tool running `accton OTHER` silently moves it away, and the agent would go on
 * reading a file that no longer grows. The sign is cheap: processes the sampler saw exit for which
 * no pacct record came. Only then is accounting probed (detectActiveAccounting: run /bin/true and
 * see whether the file grew), at most once per `minProbeGapMs`.
 */
export interface AccountingWatchStatus {
  /** receiving: records arrive or the last probe found the file growing; lost: the probe did not. */
  state: 'receiving' | 'lost';
  lostSince: string | null;
  /** A known accounting file that grew instead, when the probe found one. */
  writesTo: string | null;
  probes: number;
  lastProbeAt: string | null;
}

export class AccountingWatch {
  private missed = 0;
  private lastProbeMs: number | undefined;
  readonly status: AccountingWatchStatus = { state: 'receiving', lostSince: null, writesTo: null, probes: 0, lastProbeAt: null };

  constructor(private readonly minProbeGapMs = 30_000) {}

  /**
   * After one pacct read: `recordsRead` records came, `missedExits` sampled exits were emitted
   * without a pacct record since the last call. True when accounting should be probed now.
   */
  afterRead(nowMs: number, recordsRead: number, missedExits: number): boolean {
    if (recordsRead > 0) {
      this.missed = 0;
      this.receiving();
      return false;
    }
    this.missed += missedExits;
    if (this.missed === 0) return false;
    return this.lastProbeMs === undefined || nowMs - this.lastProbeMs >= this.minProbeGapMs;
  }

  /** The probe's result: whether the file read grew, else which known file did (if any). */
  probed(nowMs: number, stillWrites: boolean, writesTo: string | null): void {
    this.lastProbeMs = nowMs;
    this.missed = 0;
    this.status.probes += 1;
    this.status.lastProbeAt = new Date(nowMs).toISOString();
    if (stillWrites) {
      this.receiving();
      return;
    }
    if (this.status.state !== 'lost') this.status.lostSince = new Date(nowMs).toISOString();
    this.status.state = 'lost';
    this.status.writesTo = writesTo;
  }

  private receiving(): void {
    this.status.state = 'receiving';
    this.status.lostSince = null;
    this.status.writesTo = null;
  }
}
