import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { journalPath, statusPath } from '../../config/paths.js';
import { readRunningPid } from '../../daemon/daemon.js';
import { Journal } from '../../journal/journal.js';
import { action, resolveConfig, withCommonOptions, type CommonOptions } from '../common.js';

interface StatusOptions extends CommonOptions {
  json?: boolean;
}

export function registerStatus(program: Command): void {
  withCommonOptions(program.command('status'))
    .description('show whether the daemon runs, the journal, and each component (sampler, pacct, uplink, ...)')
    .option('--json', 'print JSON')
    .action(
      action((options: StatusOptions) => {
        const { dataDir, config } = resolveConfig(options);
        const pid = readRunningPid(dataDir);
        const path = journalPath(dataDir);
        let journal: unknown = { path, exists: false };
        if (existsSync(path)) {
          const reader = Journal.open(path, { readonly: true });
          try {
            journal = reader.stats();
          } finally {
            reader.close();
          }
        }
        let daemon: Record<string, unknown> | undefined;
        if (pid !== undefined) {
          try {
            daemon = JSON.parse(readFileSync(statusPath(dataDir), 'utf8')) as Record<string, unknown>;
          } catch {
            daemon = { pid };
          }
        }
        const status = {
          dataDir,
          running: pid !== undefined,
          pid: pid ?? null,
          server: config.server.url ?? config.server.urls?.[0] ?? null,
          ...(config.server.urls ? { servers: config.server.urls } : {}),
          journal,
          ...(daemon ? { daemon } : {}),
        };
        if (options.json) {
          process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
          return;
        }
        process.stdout.write(renderText(status));
      }),
    );
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
