/**
 * What `usage-agent service install | uninstall` does, as an ordered list of steps, decided by pure
 * functions from the layout, the state of the machine (passed in) and the rendered templates.
 * Executing a plan (apply.ts) and printing it (--dry-run) use the same list, so the dry run shows
 * exactly what a real run would do.
 */
import { posix, win32 } from 'node:path';
import {
  definitionsFor,
  encodeContents,
  renderDefinition,
  templateVars,
  TEMPLATE_DIR,
  type DefinitionRole,
  type RenderedDefinition,
  type ServiceLayout,
} from './layout.js';
import { idFileEntries } from '../identity/files.js';
import { AGENT_NODE_FLAGS } from './node-flags.js';

export type Step =
  | { kind: 'mkdir'; path: string; mode: number }
  | {
      kind: 'write';
      path: string;
      mode: number;
      contents: string;
      encoding: 'utf8' | 'utf16le';
      role: DefinitionRole;
      /** create: absent now; update: differs; unchanged: already identical; keep: config that exists. */
      state: 'create' | 'update' | 'unchanged' | 'keep';
    }
  | { kind: 'remove'; path: string; recursive: boolean; present: boolean }
  | { kind: 'run'; argv: string[]; ignoreFailure: boolean; why: string };

export interface Plan {
  os: ServiceLayout['os'];
  action: 'install' | 'uninstall';
  steps: Step[];
  notes: string[];
}

/** Facts about the machine a plan depends on; probed by the caller (probe.ts), synthetic in tests. */
export interface MachineState {
  /** systemd is PID 1 (/run/systemd/system exists). */
  systemdRunning: boolean;
  /** systemctl exists: units can be enabled (symlinked) even when systemd is not running. */
  hasSystemctl: boolean;
  /** systemd-sysusers exists (else the daemon's user is made with useradd). */
  hasSysusers: boolean;
  /** Current bytes of a file, undefined if absent. */
  read(path: string): Buffer | undefined;
  /** Whether a file or directory exists. */
  exists(path: string): boolean;
}

export interface PlanOptions {
  /** Also install the usage-server unit (Linux). */
  server?: boolean;
  /** uninstall: also remove configuration and collected data. */
  purge?: boolean;
  templateDir?: string;
  /**
   * Install into this directory as if it were / (an image being built, a test): files go under it,
   * their contents still name the real paths, and units are enabled with `systemctl --root`.
   * Linux only; nothing is started.
   */
  root?: string;
}

/** The machine as seen through --root: paths are read under it and systemd is not running there. */
export function rooted(machine: MachineState, root: string | undefined): MachineState {
  if (!root) return machine;
  return {
    systemdRunning: false,
    hasSystemctl: machine.hasSystemctl,
    hasSysusers: machine.hasSysusers,
    read: (path) => machine.read(posix.join(root, path)),
    exists: (path) => machine.exists(posix.join(root, path)),
  };
}

/** Moves the plan's file operations under --root and points systemctl at it. */
function reroot(plan: Plan, root: string | undefined): Plan {
  if (!root) return plan;
  const steps = plan.steps.map((step): Step => {
    if (step.kind === 'run') {
      const [cmd, ...args] = step.argv;
      if (cmd === 'systemctl') return { ...step, argv: ['systemctl', `--root=${root}`, ...args] };
      // All of the image's sysusers.d files, ours included: what its first boot would do.
      if (cmd === 'systemd-sysusers') return { ...step, argv: ['systemd-sysusers', `--root=${root}`] };
      if (cmd === 'useradd') return { ...step, argv: ['useradd', '--root', root, ...args] };
      return step;
    }
    return { ...step, path: posix.join(root, step.path) };
  });
  const notes = plan.notes.filter((n) => !n.startsWith('systemd is not running'));
  notes.unshift(`Installed under ${root} as its root file system; nothing was started.`);
  return { ...plan, steps, notes };
}

export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanError';
  }
}

export const DAEMON_UNIT = 'usage-agent.service';
/** The daemon unit's User= (service/systemd/usage-agent.service, usage-agent.sysusers). */
export const DAEMON_USER = 'usage-agent';

/** Whether /etc/passwd (under --root: the image's) has the user; parsed as the identity reader parses it. */
export function hasLocalUser(machine: MachineState, name: string): boolean {
  const passwd = machine.read('/etc/passwd')?.toString('utf8') ?? '';
  return idFileEntries(passwd).some((e) => e.name === name);
}

/** The steps that create the daemon's system user from the sysusers.d file written at `sysusersPath`. */
function daemonUserSteps(layout: ServiceLayout, machine: MachineState, sysusersPath: string): Step[] {
  if (hasLocalUser(machine, DAEMON_USER)) return [];
  const why = `create the daemon's system user ${DAEMON_USER} (the unit's User=; it owns ${layout.dataDir})`;
  if (machine.hasSysusers) return [run(['systemd-sysusers', sysusersPath], why)];
  return [
    run(
      [
        'useradd',
        '--system',
        '--user-group',
        '--home-dir',
        layout.dataDir,
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        '--comment',
        'usage-agent daemon',
        DAEMON_USER,
      ],
      why,
    ),
  ];
}
export const SESSION_UNIT = 'usage-agent-session.service';
export const SERVER_UNIT = 'usage-server.service';
export const LAUNCHD_DAEMON_LABEL = 'org.usage-agent.agent';
export const LAUNCHD_SESSION_LABEL = 'org.usage-agent.session';
export const WINDOWS_TASK_NAME = 'usage-agent\\session';

function wanted(layout: ServiceLayout, options: PlanOptions): RenderedDefinition[] {
  return definitionsFor(layout)
    .filter((d) => (d.role === 'server' || d.role === 'server-config' ? options.server === true : true))
    .map((d) => renderDefinition(d, layout, options.templateDir ?? TEMPLATE_DIR));
}

function writeStep(d: RenderedDefinition, machine: MachineState): Extract<Step, { kind: 'write' }> {
  const current = machine.read(d.target);
  let state: 'create' | 'update' | 'unchanged' | 'keep';
  if (current === undefined) state = 'create';
  else if (d.config) state = 'keep';
  else state = current.equals(encodeContents(d, d.contents)) ? 'unchanged' : 'update';
  return { kind: 'write', path: d.target, mode: d.mode, contents: d.contents, encoding: d.encoding, role: d.role, state };
}

const run = (argv: string[], why: string, ignoreFailure = false): Step => ({ kind: 'run', argv, why, ignoreFailure });

/** The daemon's command line, as the service manager runs it; for "run it yourself" notes. */
export function daemonCommandLine(layout: ServiceLayout): string[] {
  const v = templateVars(layout);
  return [v.NODE as string, ...AGENT_NODE_FLAGS, v.AGENT_JS as string, 'run', '--config', layout.config, '--data-dir', layout.dataDir];
}

export function installPlan(layout: ServiceLayout, machine: MachineState, options: PlanOptions = {}): Plan {
  if (options.root && layout.os !== 'linux') throw new PlanError('--root is supported for Linux only');
  return reroot(installPlanIn(layout, rooted(machine, options.root), options), options.root);
}

function installPlanIn(layout: ServiceLayout, machine: MachineState, options: PlanOptions): Plan {
  const defs = wanted(layout, options);
  const writes = defs.map((d) => writeStep(d, machine));
  const changed = (role: DefinitionRole) => writes.some((w) => w.role === role && (w.state === 'create' || w.state === 'update'));
  const p = layout.os === 'win32' ? win32 : posix;
  const steps: Step[] = [];
  const notes: string[] = [];
  const dirs = new Map<string, number>();
  for (const w of writes) if (!dirs.has(p.dirname(w.path))) dirs.set(p.dirname(w.path), 0o755);
  dirs.set(layout.dataDir, 0o750);
  if (layout.os !== 'linux') dirs.set(layout.logDir, 0o755);
  for (const [path, mode] of dirs) steps.push({ kind: 'mkdir', path, mode });
  steps.push(...writes);

  switch (layout.os) {
    case 'linux': {
      steps.push(...daemonUserSteps(layout, machine, writes.find((w) => w.role === 'daemon-user')!.path));
      if (machine.exists(`/lib/systemd/system/${DAEMON_UNIT}`) || machine.exists(`/usr/lib/systemd/system/${DAEMON_UNIT}`)) {
        notes.push(`A package already installed ${DAEMON_UNIT}; the copy written to /etc/systemd/system overrides it until removed.`);
      }
      if (!machine.hasSystemctl) {
        notes.push('systemctl was not found: the unit files are written but not enabled or started.');
        break;
      }
      if (machine.systemdRunning) steps.push(run(['systemctl', 'daemon-reload'], 'load the new or changed unit files'));
      steps.push(run(['systemctl', 'enable', DAEMON_UNIT], 'start the daemon at boot'));
      steps.push(run(['systemctl', '--global', 'enable', SESSION_UNIT], 'start the session agent in every graphical login'));
      if (options.server) steps.push(run(['systemctl', 'enable', SERVER_UNIT], 'start usage-server at boot'));
      if (machine.systemdRunning) {
        // restart picks up a changed unit or a new program; start is a no-op when already running.
        steps.push(run(['systemctl', changed('daemon') ? 'restart' : 'start', DAEMON_UNIT], 'run the daemon now'));
        if (options.server) steps.push(run(['systemctl', changed('server') ? 'restart' : 'start', SERVER_UNIT], 'run usage-server now'));
        notes.push('Session agents start at the next graphical login (or: systemctl --user start usage-agent-session.service).');
      } else {
        notes.push(
          'systemd is not running on this machine (no /run/systemd/system): the units are written and enabled for the next ' +
            'boot under systemd, but nothing was started. To run the daemon now, run as root: ' +
            daemonCommandLine(layout).join(' '),
        );
      }
      break;
    }
    case 'darwin': {
      const daemonPlist = writes.find((w) => w.role === 'daemon')!.path;
      const target = `system/${LAUNCHD_DAEMON_LABEL}`;
      if (changed('daemon')) steps.push(run(['launchctl', 'bootout', target], 'unload the previous definition (if loaded)', true));
      steps.push(run(['launchctl', 'bootstrap', 'system', daemonPlist], 'load the LaunchDaemon', !changed('daemon')));
      steps.push(run(['launchctl', 'enable', target], 'start it at boot'));
      steps.push(run(['launchctl', 'kickstart', target], 'run the daemon now (no-op if running)'));
      notes.push('The LaunchAgent starts the session agent at the next login of each user.');
      break;
    }
    case 'win32': {
      const winsw = p.join(layout.prefix, 'winsw', 'usage-agent.exe');
      const task = writes.find((w) => w.role === 'session')!.path;
      notes.push(`WinSW must be at ${winsw} (WinSW-x64.exe renamed), beside usage-agent.xml.`);
      if (changed('daemon')) {
        steps.push(run([winsw, 'stop'], 'stop the previous service (if any)', true));
        steps.push(run([winsw, 'uninstall'], 'remove the previous service definition (if any)', true));
        steps.push(run([winsw, 'install'], 'register the Windows service'));
      } else {
        steps.push(run([winsw, 'install'], 'register the Windows service (already registered is fine)', true));
      }
      steps.push(run([winsw, 'start'], 'run the service now (already running is fine)', !changed('daemon')));
      steps.push(run(['schtasks', '/Create', '/TN', WINDOWS_TASK_NAME, '/XML', task, '/F'], 'start the session agent at every logon'));
      break;
    }
  }
  return { os: layout.os, action: 'install', steps, notes };
}

export function uninstallPlan(layout: ServiceLayout, machine: MachineState, options: PlanOptions = {}): Plan {
  if (options.root && layout.os !== 'linux') throw new PlanError('--root is supported for Linux only');
  return reroot(uninstallPlanIn(layout, rooted(machine, options.root), options), options.root);
}

function uninstallPlanIn(layout: ServiceLayout, machine: MachineState, options: PlanOptions): Plan {
  const all = definitionsFor(layout);
  const present = (path: string) => path !== '' && machine.exists(path);
  const steps: Step[] = [];
  const notes: string[] = [];
  const p = layout.os === 'win32' ? win32 : posix;
  const serverInstalled = present(all.find((d) => d.role === 'server')?.target ?? '');
  switch (layout.os) {
    case 'linux':
      if (machine.hasSystemctl) {
        const now = machine.systemdRunning ? ['--now'] : [];
        steps.push(run(['systemctl', 'disable', ...now, DAEMON_UNIT], 'stop the daemon and no longer start it at boot', true));
        steps.push(run(['systemctl', '--global', 'disable', SESSION_UNIT], 'no longer start session agents at login', true));
        if (serverInstalled) steps.push(run(['systemctl', 'disable', ...now, SERVER_UNIT], 'stop usage-server', true));
      }
      break;
    case 'darwin':
      steps.push(run(['launchctl', 'bootout', `system/${LAUNCHD_DAEMON_LABEL}`], 'stop and unload the LaunchDaemon', true));
      break;
    case 'win32': {
      const winsw = p.join(layout.prefix, 'winsw', 'usage-agent.exe');
      steps.push(run([winsw, 'stop'], 'stop the service', true));
      steps.push(run([winsw, 'uninstall'], 'remove the service', true));
      steps.push(run(['schtasks', '/Delete', '/TN', WINDOWS_TASK_NAME, '/F'], 'no longer start session agents at logon', true));
      break;
    }
  }
  for (const d of all) {
    if (d.config && !options.purge) continue;
    steps.push({ kind: 'remove', path: d.target, recursive: false, present: present(d.target) });
  }
  if (layout.os === 'linux' && machine.systemdRunning) steps.push(run(['systemctl', 'daemon-reload'], 'forget the removed units'));
  if (options.purge) {
    // A recursive remove only of a path that is clearly ours (a mistyped --data-dir / must not wipe a disk).
    if (/usage-agent/.test(layout.dataDir)) steps.push({ kind: 'remove', path: layout.dataDir, recursive: true, present: present(layout.dataDir) });
    else notes.push(`The data dir ${layout.dataDir} is not removed: its path does not name usage-agent; remove it yourself.`);
    // Only a directory of our own: a --config /etc/agent.json must never make purge remove /etc.
    const configDir = p.dirname(layout.config);
    if (p.basename(configDir) === 'usage-agent') steps.push({ kind: 'remove', path: configDir, recursive: true, present: present(configDir) });
    if (layout.os !== 'linux') steps.push({ kind: 'remove', path: layout.logDir, recursive: true, present: present(layout.logDir) });
  } else {
    notes.push(`Configuration (${layout.config}) and collected data (${layout.dataDir}) are kept; --purge removes them.`);
  }
  if (layout.os === 'linux') notes.push(`The system user ${DAEMON_USER} is kept (files may still be owned by it): userdel ${DAEMON_USER} removes it.`);
  if (layout.os === 'darwin') notes.push('Session agents already running stop at logout (or: launchctl bootout gui/$UID/org.usage-agent.session).');
  return { os: layout.os, action: 'uninstall', steps, notes };
}

/** Human-readable dry run: every directory, file (with contents) and command, in order. */
export function formatPlan(plan: Plan, dryRun: boolean): string {
  const lines: string[] = [`# usage-agent service ${plan.action} (${plan.os})${dryRun ? ': dry run, nothing is changed' : ''}`];
  const mode = (m: number) => `0${m.toString(8)}`;
  for (const step of plan.steps) {
    switch (step.kind) {
      case 'mkdir':
        lines.push(`mkdir ${step.path} (mode ${mode(step.mode)} if created)`);
        break;
      case 'write': {
        const what = { create: 'create', update: 'update', unchanged: 'unchanged', keep: 'keep existing' }[step.state];
        lines.push(`${what} ${step.path} (mode ${mode(step.mode)}${step.encoding === 'utf16le' ? ', UTF-16 LE with BOM' : ''})`);
        if (step.state !== 'keep' && step.state !== 'unchanged') {
          lines.push('----- 8< -----', step.contents.replace(/\n$/, ''), '----- >8 -----');
        }
        break;
      }
      case 'remove':
        lines.push(`remove ${step.path}${step.recursive ? ' (recursively)' : ''}${step.present ? '' : ' (absent)'}`);
        break;
      case 'run':
        lines.push(`run: ${step.argv.map(quoteArg).join(' ')}${step.ignoreFailure ? '  (failure ignored)' : ''}  # ${step.why}`);
        break;
    }
  }
  for (const note of plan.notes) lines.push(`note: ${note}`);
  return `${lines.join('\n')}\n`;
}

function quoteArg(arg: string): string {
  return /^[A-Za-z0-9/._+:=,@\\-]+$/.test(arg) ? arg : `"${arg.replaceAll('"', '\\"')}"`;
}
