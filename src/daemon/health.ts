/**
 * "Is it working?": the daemon's status file (status.json, written every 5 s) and the journal's
 * counts turned into one verdict per capability, each with the reason and what to do when it is
 * not working. Pure: `usage-agent status` and its tests give it the inputs.
 */

export const HEALTH_CAPABILITIES = ['daemon', 'processes', 'pacct', 'sessions', 'server', 'enforcement'] as const;
export type Capability = (typeof HEALTH_CAPABILITIES)[number];

export interface HealthCheck {
  capability: Capability;
  /** ok: working; off: not used by configuration or on this platform (not a fault); problem: not working. */
  state: 'ok' | 'off' | 'problem';
  /** One line: what it is doing, or what is wrong. */
  summary: string;
  /** For a problem: what to do about it. */
  action?: string;
}

/** Exit status of `usage-agent status`: monitoring reads it. */
export const STATUS_EXIT = { healthy: 0, problem: 1, notRunning: 3 } as const;

export interface Health {
  healthy: boolean;
  exitCode: (typeof STATUS_EXIT)[keyof typeof STATUS_EXIT];
  checks: HealthCheck[];
  /** Records not yet acknowledged by a usage-server (null without a server). */
  backlogRecords: number | null;
  /** The last upload the server acknowledged, since the daemon started (null: none yet). */
  lastUploadAt: string | null;
}

export interface HealthInput {
  nowMs: number;
  dataDir: string;
  /** The pid of a live daemon on the data dir, if any. */
  pid: number | undefined;
  /** status.json as the daemon wrote it (undefined when missing or unreadable). */
  daemon: DaemonStatusFile | undefined;
  /** The journal's counts (undefined when there is no journal yet). */
  journal: { records: number; lastSeq: number; ackedThroughSeq: number } | undefined;
  /** A server is configured (in the config file `status` read). */
  serverConfigured: boolean;
}

/**
 * A component's part of status.json as JSON.parse gives it: each component writes its own shape
 * (and a daemon of another version may be running), so it is read field by field, defensively.
 */
// biome-ignore lint/suspicious/noExplicitAny: the components' status shapes are read loosely, field by field
type ComponentStatus = Record<string, any>;

/** The parts of status.json read here (see each component's status()). */
export interface DaemonStatusFile {
  pid?: number;
  startedAt?: string;
  updatedAt?: string;
  components?: Record<string, ComponentStatus | undefined>;
}

/** The daemon writes status.json every 5 s: three missed writes and it is considered hung. */
export const STALE_STATUS_MS = 20_000;

export function assessHealth(input: HealthInput): Health {
  const checks: HealthCheck[] = [];
  const c = input.daemon?.components ?? {};
  const uplink = c.uplink;
  const backlogRecords = uplink
    ? Number(uplink.backlogRecords ?? 0)
    : input.serverConfigured && input.journal
      ? input.journal.lastSeq - input.journal.ackedThroughSeq
      : null;
  const lastUploadAt = (uplink?.lastUploadAt as string | null | undefined) ?? null;

  if (input.pid === undefined) {
    const unsent = input.journal && input.serverConfigured ? `; ${input.journal.lastSeq - input.journal.ackedThroughSeq} records wait in the journal` : '';
    checks.push({
      capability: 'daemon',
      state: 'problem',
      summary: `not running (no daemon on data dir ${input.dataDir})${unsent}`,
      action: 'start it: systemctl start usage-agent (see its log: journalctl -u usage-agent); nothing is collected meanwhile',
    });
    return { healthy: false, exitCode: STATUS_EXIT.notRunning, checks, backlogRecords, lastUploadAt };
  }
  const updated = input.daemon?.updatedAt ? Date.parse(input.daemon.updatedAt) : NaN;
  const age = input.nowMs - updated;
  if (!input.daemon || !Number.isFinite(updated)) {
    checks.push({
      capability: 'daemon',
      state: 'problem',
      summary: `running (pid ${input.pid}) but its status file is missing or unreadable`,
      action: 'if it just started, ask again in a few seconds; otherwise restart it: systemctl restart usage-agent',
    });
  } else if (age > STALE_STATUS_MS) {
    checks.push({
      capability: 'daemon',
      state: 'problem',
      summary: `running (pid ${input.pid}) but not responding: status last written ${seconds(age)} ago`,
      action: 'restart it: systemctl restart usage-agent, and report its log (journalctl -u usage-agent)',
    });
  } else {
    checks.push({ capability: 'daemon', state: 'ok', summary: `running (pid ${input.pid}, since ${input.daemon.startedAt ?? '?'})` });
  }

  checks.push(processesCheck(c.processes));
  checks.push(pacctCheck(c.processes));
  checks.push(sessionsCheck(c.sessions, c.logons));
  checks.push(serverCheck(uplink, input.serverConfigured, backlogRecords, lastUploadAt));
  checks.push(enforcementCheck(c.enforcer, uplink));

  const healthy = checks.every((k) => k.state !== 'problem');
  return { healthy, exitCode: healthy ? STATUS_EXIT.healthy : STATUS_EXIT.problem, checks, backlogRecords, lastUploadAt };
}

function processesCheck(p: ComponentStatus | undefined): HealthCheck {
  if (!p) return { capability: 'processes', state: 'off', summary: 'off (processes.enabled is false)' };
  if (p.error) return { capability: 'processes', state: 'problem', summary: `failing: ${p.error}`, action: 'see the daemon log (journalctl -u usage-agent)' };
  if (!(p.samplesTaken > 0))
    return {
      capability: 'processes',
      state: 'problem',
      summary: 'no process sample taken yet',
      action: 'if the daemon just started, ask again in a few seconds; otherwise see its log',
    };
  return { capability: 'processes', state: 'ok', summary: `${p.processesTracked} processes tracked (${p.sampler} sampler, every ${p.sampleIntervalMs} ms)` };
}

function pacctCheck(p: ComponentStatus | undefined): HealthCheck {
  const pacct = p?.pacct as ComponentStatus | undefined;
  if (!p || !pacct) return { capability: 'pacct', state: 'off', summary: 'off (process collection is off)' };
  if (pacct.mode === 'off') {
    const reason = String(pacct.reason ?? 'off');
    if (/"off"|Linux only/.test(reason)) return { capability: 'pacct', state: 'off', summary: `off (${reason})` };
    const action = /accton not found/.test(reason)
      ? 'install the acct package (Debian/Ubuntu) or psacct (RHEL, Fedora, SUSE), then systemctl restart usage-agent'
      : /not root|CAP_SYS_PACCT/.test(reason)
        ? 'run the daemon as the installed service (root with CAP_SYS_PACCT), or switch accounting on (systemctl enable --now acct) and set processes.pacct to its file'
        : 'see the daemon log (journalctl -u usage-agent), then systemctl restart usage-agent';
    return { capability: 'pacct', state: 'problem', summary: `not reading kernel accounting: ${reason}; short-lived processes are missed`, action };
  }
  const watch = pacct.accounting as ComponentStatus | undefined;
  if (watch?.state === 'lost') {
    const where = watch.writesTo ? `to ${watch.writesTo}` : 'to a file the agent does not know';
    return {
      capability: 'pacct',
      state: 'problem',
      summary: `kernel accounting no longer writes to ${pacct.file} (since ${watch.lostSince}): another program switched it ${where}; short-lived processes are missed`,
      action: `find the program that ran accton (e.g. systemctl status acct psacct) and stop it, or set processes.pacct to the file it writes${watch.writesTo ? ` ("${watch.writesTo}")` : ''}; then systemctl restart usage-agent`,
    };
  }
  if (pacct.unreadable > 0 && !(pacct.recordsRead > 0)) {
    return {
      capability: 'pacct',
      state: 'problem',
      summary: `cannot read ${pacct.file}`,
      action: 'check that file exists and the daemon may read it (it runs as root as a service)',
    };
  }
  return {
    capability: 'pacct',
    state: 'ok',
    summary: `reading ${pacct.file}${pacct.ownedByAgent ? ' (switched on by the agent)' : ''}, ${pacct.recordsRead} records read`,
  };
}

function sessionsCheck(s: ComponentStatus | undefined, logons: ComponentStatus | undefined): HealthCheck {
  if (!s) return { capability: 'sessions', state: 'off', summary: 'off (no session listener on this platform)' };
  if (s.error) return { capability: 'sessions', state: 'problem', summary: `failing: ${s.error}`, action: 'see the daemon log (journalctl -u usage-agent)' };
  const n = Array.isArray(s.sessions) ? s.sessions.length : 0;
  const logind = logons?.logind === 'watching' ? 'logons from logind and session agents' : 'logons from session agents only (logind not reachable)';
  return { capability: 'sessions', state: 'ok', summary: `${n} session agent${n === 1 ? '' : 's'} connected; ${logind}` };
}

function serverCheck(u: ComponentStatus | undefined, configured: boolean, _backlog: number | null, lastUploadAt: string | null): HealthCheck {
  if (!u) {
    if (configured)
      return {
        capability: 'server',
        state: 'problem',
        summary: 'a server is configured but the daemon has no uplink (started with another configuration?)',
        action: 'systemctl restart usage-agent',
      };
    return { capability: 'server', state: 'off', summary: 'no server configured: records stay in the local journal' };
  }
  const last = `last upload ${lastUploadAt ?? 'none since start'}`;
  if (u.error) return { capability: 'server', state: 'problem', summary: `failing: ${u.error}`, action: 'see the daemon log (journalctl -u usage-agent)' };
  if (u.state === 'online') return { capability: 'server', state: 'ok', summary: `${u.server}: connected, ${last}` };
  if (u.state === 'connecting' && !u.lastError) return { capability: 'server', state: 'ok', summary: `${u.server}: connecting, ${last}` };
  // A refused TLS connection names its reason (uplink/tls-failure.ts); its detail says what is wrong.
  if (u.tls?.reason) {
    return {
      capability: 'server',
      state: 'problem',
      summary: `${u.server}: TLS refused (reason: ${u.tls.reason}) since ${u.tls.since ?? '?'} (${u.consecutiveFailures ?? 0} failures in a row); ${last}`,
      action: `${u.tls.detail}; records are kept and sent once the connection is accepted`,
    };
  }
  const action =
    u.state === 'not-enrolled'
      ? "check server.enrollSecret against the server's enrollment secrets"
      : `check that ${u.server} answers from this machine (curl ${u.server}/v1/health), the proxy (server.proxy) and the CA (server.caFile); records are kept and sent once it answers`;
  return {
    capability: 'server',
    state: 'problem',
    summary: `${u.server}: ${u.state}: ${u.lastError ?? 'no answer'} (${u.consecutiveFailures ?? 0} failures in a row); ${last}`,
    action,
  };
}

function enforcementCheck(e: ComponentStatus | undefined, uplink: ComponentStatus | undefined): HealthCheck {
  if (!e) return { capability: 'enforcement', state: 'off', summary: 'off' };
  if (e.error) return { capability: 'enforcement', state: 'problem', summary: `failing: ${e.error}`, action: 'see the daemon log (journalctl -u usage-agent)' };
  const held = Array.isArray(e.leases) ? e.leases.length : 0;
  const pending = Number(e.pendingNotifications ?? 0);
  const notes = `${held} lease${held === 1 ? '' : 's'} held${pending > 0 ? `, ${pending} notifications waiting for a session agent` : ''}`;
  if (e.launchDetection === false && (Number(e.products ?? 0) > 0 || Number(e.loggedPrograms ?? 0) > 0)) {
    return {
      capability: 'enforcement',
      state: 'problem',
      summary: 'program launches are not detected on this platform: licences are not enforced',
      action: 'enforcement needs Linux /proc',
    };
  }
  if (!uplink) {
    return Number(e.loggedPrograms ?? 0) > 0
      ? { capability: 'enforcement', state: 'ok', summary: `logging ${e.loggedPrograms} programs (no server: no licences)` }
      : { capability: 'enforcement', state: 'off', summary: 'off (no server: no licence policy)' };
  }
  if (!uplink.policyVersion) {
    return {
      capability: 'enforcement',
      state: 'problem',
      summary: 'no licence policy from the server yet: controlled programs are not recognised',
      action: 'see the server check above; the policy is fetched once the server answers',
    };
  }
  return { capability: 'enforcement', state: 'ok', summary: `${e.products} products in policy ${uplink.policyVersion}, ${notes}` };
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}
