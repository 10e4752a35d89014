/**
 * Builds usage-agent_<version>_<arch>.deb with dpkg-deb. The units, wrappers and maintainer
 * scripts are rendered by the same renderer `usage-agent service install` uses, with the package's
 * layout (/opt/usage-agent, its bundled Node). See packaging/README.md.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PACKAGE_ROOT } from '../../config/paths.js';
import { defaultLayout, packageVersion, templateVars, type ServiceLayout } from '../layout.js';
import { renderTemplate } from '../render.js';
import { run } from './exec.js';
import { bundledNode } from './runtime.js';
import { duKib, PACKAGE_NODE, PACKAGE_PREFIX, stageRoot } from './stage.js';

export { compile, stageApp } from './stage.js';
export const DEB_PREFIX = PACKAGE_PREFIX;
export const DEB_NODE = PACKAGE_NODE;

export interface BuildOptions {
  /** Package version (default: package.json's). A Debian version: digits, letters, . + ~ - */
  version?: string;
  outDir?: string;
  /** A Node binary to bundle as it is (its ABI must match node_modules); default: the registry's current LTS, native modules rebuilt for it. */
  node?: string;
  /** dpkg-deb compression (default xz). */
  compression?: 'xz' | 'gzip' | 'zstd' | 'none';
  log?: (line: string) => void;
  /** Keep the staging directory (for inspection). */
  keepStaging?: boolean;
}

export interface BuildResult {
  path: string;
  version: string;
  arch: string;
  /** Paths (absolute, as installed) of every file and directory in the package. */
  contents: string[];
  conffiles: string[];
}

/** The package's layout: what the units, wrappers and scripts name. */
export function debLayout(version: string): ServiceLayout {
  return defaultLayout('linux', { prefix: DEB_PREFIX, node: DEB_NODE, version });
}

/** Where the package puts each definition: the distribution's directories, not /etc's. */
const DEB_TARGETS: Record<string, string> = {
  daemon: '/lib/systemd/system/usage-agent.service',
  'daemon-user': '/usr/lib/sysusers.d/usage-agent.conf',
  server: '/lib/systemd/system/usage-server.service',
  session: '/usr/lib/systemd/user/usage-agent-session.service',
  'session-autostart': '/etc/xdg/autostart/usage-agent-session.desktop',
  config: '/etc/usage-agent/agent.json',
  'session-config': '/etc/usage-agent/session.json',
};

export function debArch(): string {
  return execFileSync('dpkg', ['--print-architecture'], { encoding: 'utf8' }).trim();
}

export function buildDeb(options: BuildOptions = {}): BuildResult {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const version = options.version ?? packageVersion();
  if (!/^[0-9][A-Za-z0-9.+~-]*$/.test(version)) throw new Error(`"${version}" is not a Debian version`);
  const arch = debArch();
  const outDir = options.outDir ?? join(PACKAGE_ROOT, 'packaging', 'out');
  const staging = mkdtempSync(join(tmpdir(), 'usage-agent-deb-'));
  const root = join(staging, 'root');
  const layout = debLayout(version);
  const vars = templateVars(layout);
  try {
    const { contents, conffiles } = stageRoot(root, staging, layout, version, DEB_TARGETS, bundledNode(options.node, staging, log), log);
    const sh = (template: string) => renderTemplate(readFileSync(join(PACKAGE_ROOT, template), 'utf8'), vars, 'sh');

    // 4. Control files.
    const debian = join(root, 'DEBIAN');
    mkdirSync(debian);
    const controlVars = { ...vars, ARCH: arch, INSTALLED_SIZE: String(duKib(root)) };
    writeFileSync(join(debian, 'control'), renderTemplate(readFileSync(join(PACKAGE_ROOT, 'packaging/debian/control'), 'utf8'), controlVars, 'text'));
    writeFileSync(join(debian, 'conffiles'), `${conffiles.join('\n')}\n`);
    for (const script of ['postinst', 'prerm', 'postrm']) {
      writeFileSync(join(debian, script), sh(`packaging/debian/${script}`));
      chmodSync(join(debian, script), 0o755);
    }
    chmodSync(debian, 0o755);
    for (const f of ['control', 'conffiles']) chmodSync(join(debian, f), 0o644);

    // 5. The archive: every file root:root whoever builds it.
    mkdirSync(outDir, { recursive: true });
    const path = join(outDir, `usage-agent_${version}_${arch}.deb`);
    const compression = options.compression ?? 'xz';
    run('dpkg-deb', ['--root-owner-group', `-Z${compression}`, '--build', root, path], staging, log);
    log(`built ${relative(process.cwd(), path) || path}`);
    return { path, version, arch, contents, conffiles };
  } finally {
    if (!options.keepStaging) rmSync(staging, { recursive: true, force: true });
    else log(`staging kept: ${staging}`);
  }
}
