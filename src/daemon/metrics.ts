/**
 * The agent's counters as Prometheus text (format 0.0.4) for node_exporter's textfile collector
 * (`metrics.textfileDir`): the same numbers `usage-agent status` shows, rendered from the status
 * the daemon writes, so a scrape and `status --json` agree. Written with the status file (every
 * 5 s) through a temp file and a rename: the collector never reads half a file.
 */
import { writeFileAtomic } from '../shared/atomic-file.js';
import { join } from 'node:path';
import { assessHealth, HEALTH_CAPABILITIES, type DaemonStatusFile } from './health.js';

export const METRICS_FILE = 'usage_agent.prom';

type Sample = [labels: Record<string, string>, value: number];
interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: Sample[];
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const seconds = (iso: unknown) => (typeof iso === 'string' && Number.isFinite(Date.parse(iso)) ? Date.parse(iso) / 1000 : undefined);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The daemon's status (status.json's object, plus its journal sequence numbers) as metric text. */
export function renderMetrics(
  status: DaemonStatusFile & { journal?: { lastSeq: number; ackedThroughSeq: number } },
  serverConfigured: boolean,
  nowMs = Date.now(),
): string {
  const c = status.components ?? {};
  const families: Family[] = [];
  const add = (name: string, type: Family['type'], help: string, value: number | undefined, labels: Record<string, string> = {}) => {
    if (value === undefined) return;
    let f = families.find((x) => x.name === name);
    if (!f) families.push((f = { name, type, help, samples: [] }));
    f.samples.push([labels, value]);
  };
  const health = assessHealth({
    nowMs,
    dataDir: '',
    pid: status.pid,
    daemon: status,
    journal: status.journal ? { records: 0, ...status.journal } : undefined,
    serverConfigured,
  });

  add('usage_agent_running', 'gauge', RUNNING_HELP, 1);
  add('usage_agent_healthy', 'gauge', HEALTHY_HELP, health.healthy ? 1 : 0);
  for (const cap of HEALTH_CAPABILITIES) {
    const check = health.checks.find((k) => k.capability === cap);
    if (check)
      add(
        'usage_agent_capability_problem',
        'gauge',
        'Whether a capability has a problem (1); see `usage-agent status` for the reason.',
        check.state === 'problem' ? 1 : 0,
        { capability: cap },
      );
  }
  add('usage_agent_start_time_seconds', 'gauge', 'When the daemon started (Unix time).', seconds(status.startedAt));
  add('usage_agent_status_updated_timestamp_seconds', 'gauge', 'When the daemon wrote this status (Unix time).', seconds(status.updatedAt));
  add('usage_agent_journal_last_seq', 'counter', 'Records journaled since the journal was created (the last sequence number).', num(status.journal?.lastSeq));
  add(
    'usage_agent_journal_acked_through_seq',
    'gauge',
    'Sequence number through which a usage-server acknowledged the records.',
    num(status.journal?.ackedThroughSeq),
  );

  const p = c.processes;
  add('usage_agent_processes_tracked', 'gauge', 'Processes being tracked by the sampler.', num(p?.processesTracked));
  add('usage_agent_process_samples_total', 'counter', 'Process samples taken since start.', num(p?.samplesTaken));
  for (const source of ['ps', 'pacct', 'both'] as const)
    add('usage_agent_process_records_total', 'counter', 'Process records journaled since start, by source.', num(p?.recordsEmitted?.[source]), { source });
  const pacct = p?.pacct;
  if (pacct) {
    const reading = pacct.mode !== 'off' && pacct.accounting?.state !== 'lost';
    add('usage_agent_pacct_reading', 'gauge', 'Whether kernel accounting is on and writes to the file the agent reads.', reading ? 1 : 0);
    add(
      'usage_agent_pacct_taken_over',
      'gauge',
      'Whether another program switched kernel accounting to another file.',
      pacct.accounting?.state === 'lost' ? 1 : 0,
    );
    add('usage_agent_pacct_records_read_total', 'counter', 'Kernel accounting records read since start.', num(pacct.recordsRead) ?? 0);
  }

  add('usage_agent_session_agents', 'gauge', 'Session agents connected.', Array.isArray(c.sessions?.sessions) ? c.sessions.sessions.length : undefined);
  add('usage_agent_logons_total', 'counter', 'Logons journaled since start.', num(c.logons?.logons));
  add('usage_agent_logoffs_total', 'counter', 'Logoffs journaled since start.', num(c.logons?.logoffs));

  const u = c.uplink;
  if (u) {
    add('usage_agent_server_online', 'gauge', 'Whether the last request to the usage-server succeeded.', u.state === 'online' ? 1 : 0);
    add('usage_agent_server_consecutive_failures', 'gauge', 'Failed usage-server requests in a row.', num(u.consecutiveFailures));
    add('usage_agent_backlog_records', 'gauge', 'Journaled records not yet acknowledged by the usage-server.', num(u.backlogRecords));
    add('usage_agent_backlog_bytes', 'gauge', 'Approximate size of the backlog.', num(u.backlogBytes));
    add('usage_agent_uploaded_records_total', 'counter', 'Records the usage-server stored from this agent since start.', num(u.uploadedRecords));
    add('usage_agent_upload_batches_total', 'counter', 'Upload batches acknowledged since start.', num(u.batches));
    add('usage_agent_upload_errors_total', 'counter', 'Upload attempts that failed and were retried since start.', num(u.retries));
    add(
      'usage_agent_last_upload_timestamp_seconds',
      'gauge',
      'When the last upload was acknowledged (Unix time); absent before the first.',
      seconds(u.lastUploadAt),
    );
  }

  const e = c.enforcer;
  if (e) {
    add('usage_agent_leases_held', 'gauge', 'Licence leases held for programs running here.', Array.isArray(e.leases) ? e.leases.length : undefined);
    add('usage_agent_policy_products', 'gauge', 'Products in the licence policy.', num(e.products));
    add('usage_agent_launches_total', 'counter', 'Launches of controlled programs seen since start.', num(e.launches));
    add('usage_agent_notifications_total', 'counter', 'Notifications raised for users since start.', num(e.notifications));
    add('usage_agent_notifications_delivered_total', 'counter', 'Notifications shown by a session agent since start.', num(e.notificationsDelivered));
    add('usage_agent_notifications_pending', 'gauge', 'Notifications waiting for a session agent.', num(e.pendingNotifications));
  }
  const b = c['journal-bound'];
  add('usage_agent_journal_used_bytes', 'gauge', 'Bytes the journal uses.', num(b?.usedBytes));
  add('usage_agent_journal_max_bytes', 'gauge', 'The journal bound (journal.maxBytes).', num(b?.maxBytes));
  add('usage_agent_journal_dropped_records_total', 'counter', 'Records dropped by the journal bound since start.', num(b?.droppedRecords));

  return render(families);
}

const RUNNING_HELP = 'Whether the daemon runs (0: it stopped cleanly; a stale file after a crash shows in usage_agent_status_updated_timestamp_seconds).';

/** What a clean stop leaves: not running, not healthy; the other series disappear. */
export function renderStoppedMetrics(): string {
  return render([
    { name: 'usage_agent_running', type: 'gauge', help: RUNNING_HELP, samples: [[{}, 0]] },
    { name: 'usage_agent_healthy', type: 'gauge', help: HEALTHY_HELP, samples: [[{}, 0]] },
  ]);
}

const HEALTHY_HELP = 'Whether `usage-agent status` would exit 0 (1) or not (0).';

function render(families: Family[]): string {
  let out = '';
  for (const f of families) {
    out += `# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${f.name} ${f.type}\n`;
    for (const [labels, value] of f.samples) {
      const l = Object.entries(labels)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(',');
      out += `${f.name}${l ? `{${l}}` : ''} ${value}\n`;
    }
  }
  return out;
}

/** Replaces `<dir>/usage_agent.prom` atomically (temp file in the same dir, then rename). */
export function writeMetricsFile(dir: string, text: string): void {
  // The temp file does not end in .prom: the collector ignores it.
  writeFileAtomic(join(dir, METRICS_FILE), text, { mode: 0o644, durable: false });
}
