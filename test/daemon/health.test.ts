import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assessHealth, type DaemonStatusFile, type HealthInput } from '../../src/daemon/health.js';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A daemon status as a healthy workstation's daemon writes it (the fields health reads). */
function daemon(over: Record<string, Record<string, unknown> | undefined> = {}, updatedAt = iso(NOW - 2000)): DaemonStatusFile {
  return {
    pid: 42,
    startedAt: iso(NOW - 3_600_000),
    updatedAt,
    components: {
      processes: {
        sampler: 'procfs',
        sampleIntervalMs: 5000,
        processesTracked: 150,
        samplesTaken: 700,
        pacct: { mode: 'auto', file: '/var/lib/usage-agent/pacct', ownedByAgent: true, recordsRead: 900, unreadable: 0, accounting: { state: 'receiving' } },
      },
      sessions: { sessions: [{ user: 'alice' }] },
      logons: { logind: 'watching' },
      uplink: {
        server: 'https://usage.example',
        state: 'online',
        lastError: null,
        consecutiveFailures: 0,
        policyVersion: 'v7',
        backlogRecords: 12,
        lastUploadAt: iso(NOW - 4000),
      },
      enforcer: { leases: [{ product: 'cad' }], products: 3, loggedPrograms: 0, pendingNotifications: 0, launchDetection: true },
      ...over,
    },
  };
}

const input = (over: Partial<HealthInput> = {}): HealthInput => ({
  nowMs: NOW,
  dataDir: '/var/lib/usage-agent',
  pid: 42,
  daemon: daemon(),
  journal: { records: 12, lastSeq: 100, ackedThroughSeq: 88 },
  serverConfigured: true,
  ...over,
});
const states = (h: ReturnType<typeof assessHealth>) => Object.fromEntries(h.checks.map((c) => [c.capability, c.state]));

test('healthy: every capability ok, exit 0, backlog and last upload from the uplink', () => {
  const h = assessHealth(input());
  assert.deepEqual(states(h), { daemon: 'ok', processes: 'ok', pacct: 'ok', sessions: 'ok', server: 'ok', enforcement: 'ok' });
  assert.equal(h.exitCode, 0);
  assert.equal(h.backlogRecords, 12);
  assert.equal(h.lastUploadAt, iso(NOW - 4000));
  assert.equal(h.checks.find((c) => c.capability === 'enforcement')!.summary, '3 products in policy v7, 1 lease held');
});

test('not running: exit 3, the unsent records counted from the journal, what to do', () => {
  const h = assessHealth(input({ pid: undefined, daemon: undefined }));
  assert.equal(h.exitCode, 3);
  assert.deepEqual(
    h.checks.map((c) => c.capability),
    ['daemon'],
  );
  assert.equal(h.checks[0]!.summary, 'not running (no daemon on data dir /var/lib/usage-agent); 12 records wait in the journal');
  assert.match(h.checks[0]!.action!, /systemctl start usage-agent/);
  assert.equal(h.backlogRecords, 12);
});

test('a daemon whose status file is 21 s old is not responding; 19 s is fine', () => {
  assert.equal(assessHealth(input({ daemon: daemon({}, iso(NOW - 19_000)) })).exitCode, 0);
  const h = assessHealth(input({ daemon: daemon({}, iso(NOW - 21_000)) }));
  assert.equal(h.exitCode, 1);
  assert.equal(h.checks[0]!.summary, 'running (pid 42) but not responding: status last written 21 s ago');
});

test('each problem names the reason and an action; off by configuration is not a problem', () => {
  const cases: Array<[string, Record<string, Record<string, unknown> | undefined>, string, 'off' | 'problem', RegExp, RegExp | undefined]> = [
    [
      'server offline',
      { uplink: { ...daemon().components!.uplink, state: 'offline', lastError: 'POST /v1/events: connect ECONNREFUSED', consecutiveFailures: 4 } },
      'server',
      'problem',
      /offline: POST \/v1\/events: connect ECONNREFUSED \(4 failures in a row\)/,
      /curl https:\/\/usage\.example\/v1\/health/,
    ],
    [
      'not enrolled',
      { uplink: { ...daemon().components!.uplink, state: 'not-enrolled', lastError: 'enroll: HTTP 403' } },
      'server',
      'problem',
      /not-enrolled: enroll: HTTP 403/,
      /server\.enrollSecret/,
    ],
    [
      'pacct lost',
      {
        processes: {
          ...daemon().components!.processes,
          pacct: {
            mode: 'auto',
            file: '/d/pacct',
            ownedByAgent: true,
            recordsRead: 5,
            accounting: { state: 'lost', lostSince: iso(NOW), writesTo: '/var/log/account/pacct' },
          },
        },
      },
      'pacct',
      'problem',
      /no longer writes to \/d\/pacct .* switched it to \/var\/log\/account\/pacct/,
      /processes\.pacct .*"\/var\/log\/account\/pacct"/,
    ],
    [
      'no accton',
      { processes: { ...daemon().components!.processes, pacct: { mode: 'off', reason: 'accton not found (install the acct/psacct package)' } } },
      'pacct',
      'problem',
      /not reading kernel accounting: accton not found/,
      /install the acct package/,
    ],
    [
      'no CAP_SYS_PACCT',
      {
        processes: {
          ...daemon().components!.processes,
          pacct: { mode: 'off', reason: 'accounting is not active and the agent lacks CAP_SYS_PACCT to switch it on (the installed unit grants it)' },
        },
      },
      'pacct',
      'problem',
      /not reading kernel accounting: .*lacks CAP_SYS_PACCT/,
      /installed service \(root with CAP_SYS_PACCT\)/,
    ],
    [
      'pacct off by config',
      { processes: { ...daemon().components!.processes, pacct: { mode: 'off', reason: 'processes.pacct is "off"' } } },
      'pacct',
      'off',
      /off \(processes\.pacct is "off"\)/,
      undefined,
    ],
    [
      'no policy yet',
      { uplink: { ...daemon().components!.uplink, policyVersion: null } },
      'enforcement',
      'problem',
      /no licence policy from the server yet/,
      /server check/,
    ],
    ['component failing', { sessions: { error: 'Error: EADDRINUSE' } }, 'sessions', 'problem', /failing: Error: EADDRINUSE/, /journalctl/],
  ];
  for (const [name, over, capability, state, summary, action] of cases) {
    const h = assessHealth(input({ daemon: daemon(over) }));
    const c = h.checks.find((x) => x.capability === capability)!;
    assert.equal(c.state, state, name);
    assert.match(c.summary, summary, name);
    if (action) assert.match(c.action!, action, name);
    else assert.equal(c.action, undefined, name);
    assert.equal(h.exitCode, state === 'problem' ? 1 : 0, name);
    assert.equal(h.checks.filter((x) => x.state === 'problem').length, state === 'problem' ? 1 : 0, `${name}: only ${capability} is wrong`);
  }
});

test('standalone (no server): server and enforcement off, still healthy; backlog null', () => {
  const h = assessHealth(input({ serverConfigured: false, daemon: daemon({ uplink: undefined }) }));
  assert.deepEqual(states(h), { daemon: 'ok', processes: 'ok', pacct: 'ok', sessions: 'ok', server: 'off', enforcement: 'off' });
  assert.equal(h.exitCode, 0);
  assert.equal(h.backlogRecords, null);
});
