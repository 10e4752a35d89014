/** `usage-agent service status`: are the definitions installed, current, enabled and running? */
import { spawnSync } from 'node:child_process';
import { readRunningPid } from '../daemon/daemon.js';
import { definitionsFor, encodeContents, renderDefinition, TEMPLATE_DIR, type ServiceLayout } from './layout.js';
import { DAEMON_UNIT, SERVER_UNIT, type MachineState } from './plan.js';

export interface DefinitionStatus {
  role: string;
  path: string;
  /** current: identical to what this version renders; differs: edited or from another version. */
  state: 'missing' | 'current' | 'differs' | 'present';
}

export interface ServiceStatus {
  os: ServiceLayout['os'];
  installed: boolean;
  definitions: DefinitionStatus[];
  systemd?: { running: boolean; enabled?: string; active?: string };
  daemon: { running: boolean; pid: number | null; dataDir: string };
}

/** Where a distribution package puts the unit `service install` writes to /etc/systemd. */
export function packagedLocations(target: string): string[] {
  const m = /^\/etc\/systemd\/(system|user)\/(.+)$/.exec(target);
  if (!m) return [];
  return m[1] === 'system' ? [`/lib/systemd/system/${m[2]}`, `/usr/lib/systemd/system/${m[2]}`] : [`/usr/lib/systemd/user/${m[2]}`];
}

export function definitionStatuses(layout: ServiceLayout, machine: MachineState, templateDir = TEMPLATE_DIR): DefinitionStatus[] {
  return definitionsFor(layout)
    .filter(
      (d) => !((d.role === 'server' || d.role === 'server-config') && [d.target, ...packagedLocations(d.target)].every((p) => machine.read(p) === undefined)),
    )
    .map((d) => {
      // A unit in /etc overrides the distribution's copy (the Debian package's, in /lib or /usr/lib).
      const path = [d.target, ...packagedLocations(d.target)].find((p) => machine.read(p) !== undefined) ?? d.target;
      const current = machine.read(path);
      if (current === undefined) return { role: d.role, path, state: 'missing' as const };
      if (d.config) return { role: d.role, path, state: 'present' as const };
      const rendered = renderDefinition(d, layout, templateDir);
      return { role: d.role, path, state: current.equals(encodeContents(d, rendered.contents)) ? ('current' as const) : ('differs' as const) };
    });
}

function systemctl(args: string[]): string {
  const r = spawnSync('systemctl', args, { encoding: 'utf8' });
  return (r.stdout ?? '').trim() || (r.error ? 'unknown' : `exit ${r.status}`);
}

export function serviceStatus(layout: ServiceLayout, machine: MachineState, root?: string): ServiceStatus {
  const definitions = definitionStatuses(layout, machine);
  const daemonDef = definitions.find((d) => d.role === 'daemon');
  const pid = layout.os === process.platform && !root ? readRunningPid(layout.dataDir) : undefined;
  const status: ServiceStatus = {
    os: layout.os,
    installed: daemonDef !== undefined && daemonDef.state !== 'missing',
    definitions,
    daemon: { running: pid !== undefined, pid: pid ?? null, dataDir: layout.dataDir },
  };
  if (layout.os === 'linux' && layout.os === process.platform) {
    status.systemd = { running: machine.systemdRunning };
    if (machine.hasSystemctl) {
      status.systemd.enabled = systemctl([...(root ? [`--root=${root}`] : []), 'is-enabled', DAEMON_UNIT]);
      if (machine.systemdRunning) status.systemd.active = systemctl(['is-active', DAEMON_UNIT]);
    }
    if (definitions.some((d) => d.role === 'server') && machine.systemdRunning) {
      (status as ServiceStatus & { server?: unknown }).server = { active: systemctl(['is-active', SERVER_UNIT]) };
    }
  }
  return status;
}
