/**
 * Builds usage-agent-<version>.<arch>.rpm with rpmbuild (Debian's `rpm` package suffices): the
 * same staged tree as the .deb (stage.ts), units in /usr/lib/systemd, configuration as
 * %config(noreplace), scriptlets from packaging/rpm/usage-agent.spec. See packaging/README.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../config/paths.js';
import { defaultLayout, packageVersion, templateVars, type ServiceLayout } from '../layout.js';
import { renderTemplate } from '../render.js';
import { run } from './exec.js';
import { bundledNode } from './runtime.js';
import { PACKAGE_NODE, PACKAGE_PREFIX, stageRoot } from './stage.js';

export interface RpmOptions {
  /** Package version (default: package.json's). An RPM version: digits, letters, . + ~ ^ _ (no -). */
  version?: string;
  outDir?: string;
  /** A Node binary to bundle as it is (its ABI must match node_modules); default: the registry's current LTS, native modules rebuilt for it. */
  node?: string;
  /** Payload compression (default xz; `none` for a quick build in tests). */
  compression?: RpmCompression;
  log?: (line: string) => void;
  keepStaging?: boolean;
}

export type RpmCompression = 'xz' | 'gzip' | 'zstd' | 'none';
const PAYLOAD: Record<RpmCompression, string> = { xz: 'w6.xzdio', gzip: 'w9.gzdio', zstd: 'w19.zstdio', none: 'w0.ufdio' };

export interface RpmResult {
  path: string;
  version: string;
  arch: string;
  contents: string[];
  conffiles: string[];
  /** The staged tree and work dir, when keepStaging (packRpm can package it again). */
  staging?: string;
}

export function rpmLayout(version: string): ServiceLayout {
  return defaultLayout('linux', { prefix: PACKAGE_PREFIX, node: PACKAGE_NODE, version });
}

/** RPM distributions keep units in /usr/lib/systemd (no /lib). */
export const RPM_TARGETS: Record<string, string> = {
  daemon: '/usr/lib/systemd/system/usage-agent.service',
  'daemon-user': '/usr/lib/sysusers.d/usage-agent.conf',
  server: '/usr/lib/systemd/system/usage-server.service',
  session: '/usr/lib/systemd/user/usage-agent-session.service',
  'session-autostart': '/etc/xdg/autostart/usage-agent-session.desktop',
  config: '/etc/usage-agent/agent.json',
  'session-config': '/etc/usage-agent/session.json',
};

export function rpmArch(): string {
  return execFileSync('rpm', ['--eval', '%{_target_cpu}'], { encoding: 'utf8' }).trim();
}

/**
 * %files: what the package owns. Shared directories (/usr/bin, /etc/xdg, ...) are not; data
 * (/var/lib/usage-agent) is not either, so an erase never removes the journal.
 */
export function filesSection(conffiles: string[]): string {
  const lines = ['%files', '%defattr(-,root,root,-)', PACKAGE_PREFIX, '/usr/bin/usage-agent', '/usr/bin/usage-server'];
  for (const role of ['daemon', 'daemon-user', 'server', 'session'] as const) lines.push(RPM_TARGETS[role]!);
  lines.push('%dir /etc/usage-agent');
  for (const c of conffiles) lines.push(c === RPM_TARGETS.config ? `%attr(0640,root,usage-agent) %config(noreplace) ${c}` : `%config(noreplace) ${c}`);
  lines.push('/usr/share/doc/usage-agent');
  return `${lines.join('\n')}\n`;
}

export function buildRpm(options: RpmOptions = {}): RpmResult {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const version = options.version ?? packageVersion();
  checkVersion(version);
  const outDir = options.outDir ?? join(PACKAGE_ROOT, 'packaging', 'out');
  const staging = mkdtempSync(join(tmpdir(), 'usage-agent-rpm-'));
  try {
    const { contents, conffiles } = stageRoot(
      join(staging, 'root'),
      staging,
      rpmLayout(version),
      version,
      RPM_TARGETS,
      bundledNode(options.node, staging, log),
      log,
    );
    const { path, arch } = packRpm(staging, version, conffiles, outDir, options.compression ?? 'xz', log);
    return { path, version, arch, contents, conffiles, ...(options.keepStaging ? { staging } : {}) };
  } finally {
    if (!options.keepStaging) rmSync(staging, { recursive: true, force: true });
    else log(`staging kept: ${staging}`);
  }
}

function checkVersion(version: string): void {
  if (!/^[0-9][A-Za-z0-9.+~^_]*$/.test(version)) throw new Error(`"${version}" is not an RPM version (digits, letters, . + ~ ^ _; no -)`);
}

/** rpmbuild over a staged tree (`<staging>/root`): the spec rendered for `version`, then the .rpm. */
export function packRpm(
  staging: string,
  version: string,
  conffiles: string[],
  outDir: string,
  compression: RpmCompression,
  log: (l: string) => void,
): { path: string; arch: string } {
  checkVersion(version);
  const arch = rpmArch();
  const spec = join(staging, 'usage-agent.spec');
  const template = readFileSync(join(PACKAGE_ROOT, 'packaging', 'rpm', 'usage-agent.spec'), 'utf8');
  writeFileSync(spec, `${renderTemplate(template, templateVars(rpmLayout(version)), 'text')}\n${filesSection(conffiles)}`);
  const top = join(staging, 'rpmbuild');
  rmSync(top, { recursive: true, force: true });
  const define = (k: string, v: string) => ['--define', `${k} ${v}`];
  run(
    'rpmbuild',
    [
      '-bb',
      '--target',
      `${arch}-linux`,
      ...define('_topdir', top),
      ...define('staged', join(staging, 'root')),
      // The tree is built already: no stripping, debuginfo, build-id links or byte-compiling.
      ...define('debug_package', '%{nil}'),
      ...define('__os_install_post', '%{nil}'),
      ...define('_build_id_links', 'none'),
      // SHA-256 digests and an xz (or zstd, gzip) payload: what RHEL 8+, Fedora and SUSE read.
      ...define('_binary_payload', PAYLOAD[compression]),
      ...define('_binary_filedigest_algorithm', '8'),
      spec,
    ],
    staging,
    log,
  );
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, `usage-agent-${version}.${arch}.rpm`);
  renameSync(join(top, 'RPMS', arch, `usage-agent-${version}-1.${arch}.rpm`), path);
  log(`built ${path}`);
  return { path, arch };
}
