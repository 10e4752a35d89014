import { Option, type Command } from 'commander';
import { EX_NOPERM, applyPlan, isPrivileged, probeMachine } from '../../service/apply.js';
import { SERVICE_OSES, defaultLayout, type ServiceLayout, type ServiceOs } from '../../service/layout.js';
import { PlanError, formatPlan, rooted, installPlan, uninstallPlan, type Plan } from '../../service/plan.js';
import { resolve } from 'node:path';
import { serviceStatus } from '../../service/status.js';
import { TemplateError } from '../../service/render.js';

/** sysexits.h EX_USAGE. */
const EX_USAGE = 64;

interface ServiceOptions {
  dryRun?: boolean;
  json?: boolean;
  os?: ServiceOs;
  server?: boolean;
  purge?: boolean;
  prefix?: string;
  node?: string;
  config?: string;
  dataDir?: string;
  root?: string;
}

function layoutFrom(options: ServiceOptions, allowForeign = options.dryRun === true): ServiceLayout {
  const os = options.os ?? (process.platform as ServiceOs);
  if (!SERVICE_OSES.includes(os)) fail(EX_USAGE, `service definitions exist for ${SERVICE_OSES.join(', ')}, not ${process.platform}`);
  if (os !== process.platform && !allowForeign) {
    fail(EX_USAGE, `--os ${os} differs from this machine (${process.platform}): use it with --dry-run to see the ${os} definitions`);
  }
  return defaultLayout(os, { prefix: options.prefix, node: options.node, config: options.config, dataDir: options.dataDir });
}

function rootOf(options: ServiceOptions): string | undefined {
  return options.root ? resolve(options.root) : undefined;
}

function fail(code: number, message: string): never {
  process.stderr.write(`usage-agent service: ${message}\n`);
  process.exit(code);
}

function withLayoutOptions(command: Command): Command {
  return command
    .addOption(new Option('--os <os>', 'render for this OS instead of the current one (with --dry-run)').choices([...SERVICE_OSES]))
    .option('--prefix <dir>', 'application directory the services run from (default: this installation)')
    .option('--node <path>', 'Node binary the services run (default: the one running this command)')
    .option('--config <file>', 'configuration file the daemon reads (default: /etc/usage-agent/agent.json on Linux)')
    .option('--data-dir <dir>', 'data directory of the daemon (default: /var/lib/usage-agent on Linux)')
    .option('--root <dir>', 'Linux: write into this directory as if it were / (image builds); enables with systemctl --root, starts nothing');
}

function execute(plan: Plan, options: ServiceOptions): void {
  if (options.dryRun) {
    process.stdout.write(options.json ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan, true));
    return;
  }
  // With --root the files go into a directory of the caller's choosing: no root needed.
  if (!options.root && !isPrivileged()) {
    fail(
      EX_NOPERM,
      `${plan.action} writes system service definitions and needs root (run it with sudo; Administrator on Windows). ` +
        'Add --dry-run to see what it would do without changing anything.',
    );
  }
  const { ok } = applyPlan(plan, (line) => process.stdout.write(`${line}\n`));
  for (const note of plan.notes) process.stdout.write(`note: ${note}\n`);
  if (!ok) fail(1, `${plan.action} stopped at the step that failed (above); fix it and run the command again (it is idempotent)`);
}

function guarded(fn: (options: ServiceOptions) => void): (options: ServiceOptions) => void {
  return (options) => {
    try {
      fn(options);
    } catch (err) {
      if (err instanceof TemplateError) fail(1, `bad service template: ${err.message}`);
      if (err instanceof PlanError) fail(EX_USAGE, err.message);
      throw err;
    }
  };
}

export function registerService(program: Command): void {
  const service = program
    .command('service')
    .description('install, remove or inspect the system service (systemd, launchd, Windows service) and session autostart');

  withLayoutOptions(service.command('install'))
    .description('write the service definitions, enable and start them (idempotent; needs root)')
    .option('--dry-run', 'print the files (with contents) and commands, change nothing')
    .option('--json', 'with --dry-run: print the plan as JSON')
    .option('--server', 'also install the usage-server unit (Linux)')
    .action(
      guarded((options: ServiceOptions) =>
        execute(installPlan(layoutFrom(options), probeMachine(), { server: options.server, root: rootOf(options) }), options),
      ),
    );

  withLayoutOptions(service.command('uninstall'))
    .description('stop and remove the service definitions (keeps config and data unless --purge; needs root)')
    .option('--dry-run', 'print what would be removed and run, change nothing')
    .option('--json', 'with --dry-run: print the plan as JSON')
    .option('--purge', 'also remove the configuration and the collected data (the journal, including unsent records)')
    .action(
      guarded((options: ServiceOptions) =>
        execute(uninstallPlan(layoutFrom(options), probeMachine(), { purge: options.purge, root: rootOf(options) }), options),
      ),
    );

  withLayoutOptions(service.command('status'))
    .description('show whether the definitions are installed and current, enabled and running (exit 3 if not installed)')
    .option('--json', 'print JSON')
    .action(
      guarded((options: ServiceOptions) => {
        const status = serviceStatus(layoutFrom(options, true), rooted(probeMachine(), rootOf(options)), rootOf(options));
        if (options.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
        else {
          const lines = [`os: ${status.os}`, `installed: ${status.installed}`];
          for (const d of status.definitions) lines.push(`  ${d.state.padEnd(7)} ${d.role.padEnd(17)} ${d.path}`);
          if (status.systemd) {
            lines.push(`systemd running: ${status.systemd.running}`);
            if (status.systemd.enabled) lines.push(`usage-agent.service enabled: ${status.systemd.enabled}`);
            if (status.systemd.active) lines.push(`usage-agent.service active: ${status.systemd.active}`);
          }
          lines.push(`daemon: ${status.daemon.running ? `running (pid ${status.daemon.pid})` : 'not running'} on ${status.daemon.dataDir}`);
          process.stdout.write(`${lines.join('\n')}\n`);
        }
        if (!status.installed) process.exitCode = 3;
      }),
    );
}
