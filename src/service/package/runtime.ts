/**
 * The Node runtime the packages bundle: the current LTS from the npm registry's
 * `node-linux-<arch>` package (the official binary and its headers), and the native modules
 * rebuilt against those headers with node-gyp `--nodedir`: nothing but that package is fetched.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { run } from './exec.js';

/**
 * Supported Node versions: 26 (Active LTS from 2026-10-28, end of life 2029-04-30), bundled; 24
 * (Maintenance LTS, end of life 2028-04-30). package.json `engines` says the same.
 */
export const BUNDLED_NODE_MAJOR = 26;
export const SUPPORTED_NODE_MAJORS = [24, 26] as const;

export interface NodeRuntime {
  /** The unpacked package: bin/node, include/node (headers, common.gypi, config.gypi), LICENSE. */
  dir: string;
  node: string;
  version: string;
  /** NODE_MODULE_VERSION, the ABI native addons are built for. */
  modules: string;
}

/**
 * Unpacks `node-linux-<arch>@<major>` into `<work>/runtime`: from the .tgz named by
 * USAGE_AGENT_NODE_PACKAGE (an offline build), else `npm pack` from the registry.
 */
export function fetchNodeRuntime(work: string, log: (l: string) => void, spec = `node-linux-${process.arch}@${BUNDLED_NODE_MAJOR}`): NodeRuntime {
  let tgz = process.env.USAGE_AGENT_NODE_PACKAGE;
  if (!tgz) {
    const dest = join(work, 'runtime-pack');
    mkdirSync(dest, { recursive: true });
    run('npm', ['pack', spec, '--pack-destination', dest, '--silent', '--no-audit', '--no-fund'], work, log);
    const packed = readdirSync(dest).find((f) => f.endsWith('.tgz'));
    if (!packed) throw new Error(`npm pack ${spec} produced no .tgz`);
    tgz = join(dest, packed);
  }
  const dir = join(work, 'runtime');
  mkdirSync(dir, { recursive: true });
  run('tar', ['-xzf', tgz, '-C', dir, '--strip-components=1'], work, log);
  const node = join(dir, 'bin', 'node');
  if (!existsSync(node) || !existsSync(join(dir, 'include', 'node', 'common.gypi')))
    throw new Error(`${tgz} is not a node-linux-* package (no bin/node or include/node)`);
  const [version, modules] = run(node, ['-p', 'process.version + " " + process.versions.modules'], work, log).trim().split(' ');
  return { dir, node, version: version!, modules: modules! };
}

/**
 * The Node a package bundles: the registry's LTS runtime (`rebuildFor`: native modules are rebuilt
 * against its headers), or a given binary whose ABI the checkout's node_modules already match.
 */
export interface BundledNode {
  node: string;
  rebuildFor?: NodeRuntime;
}

/** `node` given: bundle that binary as it is; otherwise the registry's current LTS. */
export function bundledNode(node: string | undefined, work: string, log: (l: string) => void): BundledNode {
  if (node) return { node };
  const runtime = fetchNodeRuntime(work, log);
  log(`bundling Node ${runtime.version} (ABI ${runtime.modules}) from node-linux-${process.arch}@${BUNDLED_NODE_MAJOR}`);
  return { node: runtime.node, rebuildFor: runtime };
}

/**
 * Where rebuilt addons are kept between builds (the compile of SQLite takes minutes): the user's
 * cache directory, which outlives a fresh clone's `npm ci`.
 */
const CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'usage-agent-package');

/**
 * Rebuilds better-sqlite3 in `app/node_modules` for `runtime` (its headers; node-gyp run by the
 * runtime itself, offline), or takes the addon from the cache of an earlier identical build.
 */
export function rebuildNativeModules(app: string, runtime: NodeRuntime, log: (l: string) => void): void {
  const dir = join(app, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
  const addon = join(dir, 'build', 'Release', 'better_sqlite3.node');
  const cached = join(CACHE, `better-sqlite3-${version}-node-abi${runtime.modules}-${process.platform}-${process.arch}.node`);
  if (existsSync(cached)) {
    log(`better-sqlite3 ${version} for Node ABI ${runtime.modules}: from ${cached}`);
    copyFileSync(cached, addon);
    return;
  }
  const gyp = nodeGyp();
  run(runtime.node, [gyp, 'rebuild', '--release', `--nodedir=${runtime.dir}`, `--jobs=max`], dir, log, { ...process.env, npm_config_nodedir: runtime.dir });
  mkdirSync(CACHE, { recursive: true });
  copyFileSync(addon, cached);
}

/** node-gyp as npm ships it (no download, no extra dependency). */
function nodeGyp(): string {
  const candidates = [
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
    '/usr/share/nodejs/node-gyp/bin/node-gyp.js',
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`node-gyp not found (looked in ${candidates.join(', ')}); it comes with npm`);
  return found;
}

/** The version `node --version` prints for a binary. */
export function nodeVersionOf(node: string): string {
  return execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
}
