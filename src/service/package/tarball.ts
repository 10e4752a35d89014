/**
 * The portable tarball for macOS and Windows (and any Linux without dpkg): compiled JavaScript,
 * package.json and lock file, the service templates and install guides. Native modules are
 * platform-specific, so node_modules is installed on the target with `npm ci --omit=dev`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../config/paths.js';
import { packageVersion } from '../layout.js';
import { stageApp } from './stage.js';

export interface TarballOptions {
  version?: string;
  outDir?: string;
  keepStaging?: boolean;
  log?: (line: string) => void;
}

export interface TarballResult {
  path: string;
  version: string;
  /** Top-level directory inside the archive. */
  top: string;
}

export function buildTarball(options: TarballOptions = {}): TarballResult {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const version = options.version ?? packageVersion();
  const outDir = options.outDir ?? join(PACKAGE_ROOT, 'packaging', 'out');
  const staging = mkdtempSync(join(tmpdir(), 'usage-agent-tgz-'));
  const top = `usage-agent-${version}`;
  const app = join(staging, top);
  try {
    // devDependencies stay: the target machine runs `npm ci --omit=dev` against the same lockfile.
    stageApp(staging, app, version, log, { keepDevDependencies: true });
    cpSync(join(PACKAGE_ROOT, 'service'), join(app, 'service'), { recursive: true });
    mkdirSync(join(app, 'config'));
    cpSync(join(PACKAGE_ROOT, 'config', 'agent.example.json'), join(app, 'config', 'agent.example.json'));
    for (const doc of ['INSTALL-macos.md', 'INSTALL-windows.md']) cpSync(join(PACKAGE_ROOT, 'packaging', 'tarball', doc), join(app, doc));
    cpSync(join(PACKAGE_ROOT, 'packaging', 'README.md'), join(app, 'README-packaging.md'));
    mkdirSync(outDir, { recursive: true });
    const path = join(outDir, `${top}.tar.gz`);
    // Reproducible-ish: sorted names, root-owned, no build-user names.
    execFileSync('tar', ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-czf', path, '-C', staging, top]);
    log(`built ${path}`);
    return { path, version, top };
  } finally {
    if (!options.keepStaging) rmSync(staging, { recursive: true, force: true });
  }
}
