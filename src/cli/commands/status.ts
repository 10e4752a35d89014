import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { journalPath, statusPath } from '../../config/paths.js';
import { readRunningPid } from '../../daemon/daemon.js';
import { assessHealth, type DaemonStatusFile, type Health } from '../../daemon/health.js';
import { Journal, type JournalStats } from '../../journal/journal.js';
import { resolveConfig } from '../../config/resolve.js';
import { action, withCommonOptions, type CommonOptions } from '../common.js';

interface StatusOptions extends CommonOptions {
  json?: boolean;
  verbose?: boolean;
}

export function registerStatus(program: Command): void {
  withCommonOptions(program.command('status'))
    .description('is it working? the daemon and each capability (processes, pacct, sessions, server, enforcement); exit 0 healthy, 1 a problem, 3 not running')
    .option('--json', 'print JSON (documented in the README)')
    .option('-v, --verbose', 'after the summary, every counter of the journal and each component')
    .action(
      action((options: StatusOptions) => {
        const { dataDir, config } = resolveConfig(options);
        const pid = readRunningPid(dataDir);
        const path = journalPath(dataDir);
        let journal: JournalStats | { path: string; exists: false } = { path, exists: false };
        if (existsSync(path)) {
          const reader = Journal.open(path, { readonly: true });
          try {
            journal = reader.stats();
          } finally {
            reader.close();
          }
        }
        let daemon: (DaemonStatusFile & Record<string, unknown>) | undefined;
        if (pid !== undefined) {
          try {
            daemon = JSON.parse(readFileSync(statusPath(dataDir), 'utf8')) as DaemonStatusFile & Record<string, unknown>;
          } catch {
            daemon = undefined;
          }
        }
        const serverConfigured = Boolean(config.server.url ?? config.server.urls);
        const health = assessHealth({
          nowMs: Date.now(),
          dataDir,
          pid,
          daemon,
          journal: 'exists' in journal ? undefined : journal,
          serverConfigured: serverConfigured || daemon?.components?.uplink !== undefined,
        });
        const status = {
          dataDir,
          running: pid !== undefined,
          pid: pid ?? null,
          healthy: health.healthy,
          health,
          server: config.server.url ?? config.server.urls?.[0] ?? null,
          ...(config.server.urls ? { servers: config.server.urls } : {}),
          journal,
          ...(pid !== undefined ? { daemon: daemon ?? { pid } } : {}),
        };
        process.exitCode = health.exitCode;
        if (options.json) {
          process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
          return;
        }
        process.stdout.write(renderSummary(health));
        if (options.verbose) {
          const { health: _omit, healthy: _h, ...rest } = status;
          process.stdout.write(`\n${renderText(rest)}`);
        } else {
          process.stdout.write('(every counter: usage-agent status --verbose; JSON: --json)\n');
        }
      }),
    );
}

/** The lines read at a glance: the verdict, then one line per capability and what to do when wrong. */
export function renderSummary(health: Health): string {
  const problems = health.checks.filter((c) => c.state === 'problem');
  const verdict = health.healthy
    ? 'OK'
    : problems.some((p) => p.capability === 'daemon' && p.summary.startsWith('not running'))
      ? 'NOT RUNNING'
      : `PROBLEM (${problems.length})`;
  const extra = health.backlogRecords !== null ? `; backlog ${health.backlogRecords} records, last upload ${health.lastUploadAt ?? 'none since start'}` : '';
  let out = `usage-agent: ${verdict}${extra}\n`;
  const width = Math.max(...health.checks.map((c) => c.capability.length)) + 2;
  for (const c of health.checks) {
    out += `  ${c.capability.padEnd(width)}${(c.state === 'problem' ? 'PROBLEM' : c.state).padEnd(9)}${c.summary}\n`;
    if (c.action) out += `  ${' '.repeat(width + 9)}-> ${c.action}\n`;
  }
  return out;
}

/** An indented outline of the status object; arrays of objects become numbered sub-outlines. */
export function renderText(status: Record<string, unknown>, indent = ''): string {
  let out = '';
  for (const [key, value] of Object.entries(status)) {
    if (Array.isArray(value) && value.some((v) => v !== null && typeof v === 'object')) {
      out += `${indent}${key}:${value.length === 0 ? ' (none)' : ''}\n`;
      value.forEach((item, i) => {
        out += `${indent}  [${i + 1}]\n${renderText(item as Record<string, unknown>, `${indent}    `)}`;
      });
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      out += `${indent}${key}:\n${renderText(value as Record<string, unknown>, `${indent}  `)}`;
    } else {
      out += `${indent}${key}: ${Array.isArray(value) ? value.join(', ') : String(value)}\n`;
    }
  }
  return out;
}
