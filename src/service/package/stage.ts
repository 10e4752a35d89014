/**
 * What the .deb and the .rpm share: the staged file tree (the application under /opt/usage-agent,
 * its bundled Node, the wrappers, units, configuration and documentation), built offline from the
 * checkout. Each package format then adds its own metadata and scripts.
 */
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PACKAGE_ROOT } from '../../config/paths.js';
import { definitionsFor, renderDefinition, templateVars, type ServiceLayout } from '../layout.js';
import { renderTemplate } from '../render.js';
import { run } from './exec.js';
import { rebuildNativeModules, type BundledNode } from './runtime.js';

export const PACKAGE_PREFIX = '/opt/usage-agent';
export const PACKAGE_NODE = `${PACKAGE_PREFIX}/node/bin/node`;

export function write(root: string, path: string, contents: string | Buffer, mode: number): void {
  const full = join(root, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, contents);
  chmodSync(full, mode);
}

/** Compiles src/ only, without source maps, into a fresh directory (not the shared dist/). */
export function compile(staging: string, log: (l: string) => void): string {
  const out = join(staging, 'tsc-out');
  const tsconfig = join(staging, 'tsconfig.package.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(PACKAGE_ROOT, 'tsconfig.json'),
      compilerOptions: { outDir: out, rootDir: PACKAGE_ROOT, sourceMap: false, incremental: false, tsBuildInfoFile: null },
      include: [join(PACKAGE_ROOT, 'src', '**', '*.ts')],
    }),
  );
  const tsc = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    run(process.execPath, [tsc, '-p', tsconfig], PACKAGE_ROOT, log);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    const errors = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    // Escape hatch for building a package from a work-in-progress tree; never for a release.
    if (process.env.USAGE_AGENT_PACKAGE_ALLOW_TYPE_ERRORS !== '1' || !existsSync(join(out, 'src', 'cli', 'usage-agent.js'))) {
      throw new Error(`tsc failed; a package is built only from code that compiles:\n${errors}`);
    }
    log(`WARNING: type errors ignored (USAGE_AGENT_PACKAGE_ALLOW_TYPE_ERRORS=1):\n${errors}`);
  }
  return join(out, 'src');
}

/**
 * Production node_modules without a network: copy the checkout's (installed by `npm ci`, native
 * modules already built for this Node), prune the dev dependencies, drop build leftovers, then
 * prove the native modules load in the Node that is bundled.
 */
/**
 * Compiles the app into <app>/dist/src and writes its package.json (this version, no scripts) and
 * lockfile: what both the .deb and the tarball ship.
 */
export function stageApp(staging: string, app: string, version: string, log: (l: string) => void, o: { keepDevDependencies: boolean }): void {
  const built = compile(staging, log);
  mkdirSync(join(app, 'dist'), { recursive: true });
  cpSync(built, join(app, 'dist', 'src'), { recursive: true });
  const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  pkg.version = version;
  delete pkg.scripts;
  if (!o.keepDevDependencies) delete pkg.devDependencies;
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  cpSync(join(PACKAGE_ROOT, 'package-lock.json'), join(app, 'package-lock.json'));
}

/**
 * Production node_modules without a network: copy the checkout's (installed by `npm ci`), prune
 * the dev dependencies, rebuild the native module for the bundled runtime (when it is not the
 * Node running the build), drop build leftovers, then prove it loads in the Node that is bundled.
 */
export function productionModules(app: string, runtime: BundledNode, log: (l: string) => void): void {
  const node = runtime.node;
  cpSync(join(PACKAGE_ROOT, 'node_modules'), join(app, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  const npmCli = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  const npm = existsSync(npmCli) ? [process.execPath, npmCli] : ['npm'];
  run(npm[0]!, [...npm.slice(1), 'prune', '--omit=dev', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], app, log);
  // npm prune leaves empty scope directories (@types) behind.
  for (const scope of readdirSync(join(app, 'node_modules'))) {
    const dir = join(app, 'node_modules', scope);
    if (scope.startsWith('@') && readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
  }
  // Command shims of build tools (node-gyp-build, prebuild-install...): nothing runs them here.
  rmSync(join(app, 'node_modules', '.bin'), { recursive: true, force: true });
  if (runtime.rebuildFor) rebuildNativeModules(app, runtime.rebuildFor, log);
  const sqlite = join(app, 'node_modules', 'better-sqlite3');
  // The addon is all that is needed at run time; sources, objects and the static SQLite go.
  for (const leftover of [
    'deps',
    'src',
    'build/Release/obj',
    'build/Release/obj.target',
    'build/Release/.deps',
    'build/Release/test_extension.node',
    'build/deps',
  ]) {
    rmSync(join(sqlite, leftover), { recursive: true, force: true });
  }
  for (const f of readdirSync(join(sqlite, 'build', 'Release'))) if (f.endsWith('.a')) rmSync(join(sqlite, 'build', 'Release', f));
  const hook = join(app, 'node_modules', 'uiohook-napi');
  if (existsSync(hook)) {
    const keep = `linux-${process.arch}`;
    for (const dir of readdirSync(join(hook, 'prebuilds'))) if (dir !== keep) rmSync(join(hook, 'prebuilds', dir), { recursive: true, force: true });
    for (const leftover of ['libuiohook', 'src', 'build']) rmSync(join(hook, leftover), { recursive: true, force: true });
  }
  // The ABI check: opening a database needs the compiled addon to match the bundled Node.
  try {
    run(node, ['-e', "const D=require('better-sqlite3'); new D(':memory:').prepare('select 1').get();"], app, log);
  } catch (err) {
    throw new Error(
      `better-sqlite3 in node_modules does not load in ${node} (${(err as { stderr?: string }).stderr ?? err}); ` +
        (runtime.rebuildFor ? 'the rebuild against its headers did not take' : 'run `npm rebuild better-sqlite3` with that Node, then build the package again'),
    );
  }
}

export function listTree(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
    const p = join(rel, entry.name);
    out.push(`/${p}`);
    if (entry.isDirectory()) out.push(...listTree(root, p));
  }
  return out;
}

export function duKib(root: string): number {
  let bytes = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) bytes += statSync(p).size;
    }
  };
  walk(root);
  return Math.ceil(bytes / 1024);
}

/** Normalises modes: directories 0755, files 0644, executables 0755 (dpkg-deb keeps what it finds). */
export function normaliseModes(root: string, rel = ''): void {
  for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
    const p = join(root, rel, entry.name);
    if (entry.isSymbolicLink()) continue;
    if (entry.isDirectory()) {
      chmodSync(p, 0o755);
      normaliseModes(root, join(rel, entry.name));
    } else {
      chmodSync(p, statSync(p).mode & 0o111 ? 0o755 : 0o644);
    }
  }
}

export interface StagedTree {
  /** Paths (absolute, as installed) of every file and directory. */
  contents: string[];
  /** Configuration files under /etc (kept when edited). */
  conffiles: string[];
}

/**
 * Stages everything a package installs below `root`: `targets` says where each service definition
 * goes (the distribution's unit directories), `node` is the runtime to bundle (its native modules
 * must load in it), `licenseFile` the copyright file's path.
 */
export function stageRoot(
  root: string,
  staging: string,
  layout: ServiceLayout,
  version: string,
  targets: Record<string, string>,
  runtime: BundledNode,
  log: (l: string) => void,
  licenseFile = 'usr/share/doc/usage-agent/copyright',
): StagedTree {
  const node = runtime.node;
  const app = join(root, PACKAGE_PREFIX.slice(1));
  const vars = templateVars(layout);
  // 1. The application: compiled src, package.json (with this version), templates, modules.
  stageApp(staging, app, version, log, { keepDevDependencies: false });
  // The templates ship too: `usage-agent service status` compares against them.
  cpSync(join(PACKAGE_ROOT, 'service'), join(app, 'service'), { recursive: true, filter: (src) => !src.endsWith('.md') });
  productionModules(app, runtime, log);
  // package-lock.json was only needed by npm prune.
  rmSync(join(app, 'package-lock.json'));

  // 2. The Node runtime the native modules were built for, and its licence.
  mkdirSync(join(app, 'node', 'bin'), { recursive: true });
  cpSync(node, join(app, 'node', 'bin', 'node'));
  const nodeLicense = [join(dirname(node), '..', 'LICENSE'), '/usr/share/doc/nodejs/LICENSE'].find((p) => existsSync(p));

  // 3. Commands, units, autostart, configuration, documentation.
  const sh = (template: string) => renderTemplate(readFileSync(join(PACKAGE_ROOT, template), 'utf8'), vars, 'sh');
  write(root, 'usr/bin/usage-agent', sh('service/bin/usage-agent.sh'), 0o755);
  write(root, 'usr/bin/usage-server', sh('service/bin/usage-server.sh'), 0o755);
  const conffiles: string[] = [];
  for (const d of definitionsFor(layout)) {
    const target = targets[d.role];
    if (!target) continue;
    write(root, target.slice(1), renderDefinition(d, layout).contents, 0o644);
    if (target.startsWith('/etc/')) conffiles.push(target);
  }
  const doc = 'usr/share/doc/usage-agent';
  write(root, `${doc}/README.md`, readFileSync(join(PACKAGE_ROOT, 'packaging', 'README.md')), 0o644);
  write(root, `${doc}/examples/agent.example.json`, readFileSync(join(PACKAGE_ROOT, 'config', 'agent.example.json')), 0o644);
  write(root, `${doc}/examples/server.json`, readFileSync(join(PACKAGE_ROOT, 'service', 'config', 'server.json')), 0o644);
  write(root, licenseFile, copyright(nodeLicense), 0o644);

  normaliseModes(root);
  // Configuration may come to hold server.enrollSecret: root only. Set after normalising.
  chmodSync(join(root, 'etc/usage-agent/agent.json'), 0o600);
  return { contents: listTree(root), conffiles };
}

export function copyright(nodeLicense: string | undefined): string {
  let text =
    'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n' +
    'Upstream-Name: usage-agent\n\n' +
    'Files: *\nLicense: Apache-2.0\n On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n\n' +
    'Files: opt/usage-agent/node/*\nLicense: MIT and others (Node.js; full text below)\n\n' +
    "Files: opt/usage-agent/node_modules/*\nLicense: see each module's package.json and LICENSE file\n";
  if (nodeLicense) text += `\n----- Node.js LICENSE -----\n${readFileSync(nodeLicense, 'utf8')}`;
  return text;
}
