#!/usr/bin/env node
/**
 * npm run package:deb | package:rpm | package:tarball. Options: --version V (or USAGE_AGENT_PACKAGE_VERSION),
 * --out DIR (default packaging/out), --compression xz|gzip|zstd|none, --keep-staging, --node PATH
 * (bundle that Node binary as it is, instead of the registry's current LTS; deb and rpm).
 */
import { parseArgs } from 'node:util';
import { buildDeb } from './deb.js';
import { buildRpm } from './rpm.js';
import { buildTarball } from './tarball.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    version: { type: 'string' },
    out: { type: 'string' },
    compression: { type: 'string' },
    'keep-staging': { type: 'boolean' },
    node: { type: 'string' },
  },
});
const kind = positionals[0];
const version = values.version ?? process.env.USAGE_AGENT_PACKAGE_VERSION;
try {
  if (kind === 'deb' || kind === 'rpm') {
    const r = (kind === 'deb' ? buildDeb : buildRpm)({
      version,
      outDir: values.out,
      compression: values.compression as 'xz' | 'gzip' | 'zstd' | 'none' | undefined,
      keepStaging: values['keep-staging'],
      node: values.node,
    });
    process.stdout.write(`${r.path}\n`);
  } else if (kind === 'tarball') {
    const r = buildTarball({ version, outDir: values.out, keepStaging: values['keep-staging'] });
    process.stdout.write(`${r.path}\n`);
  } else {
    process.stderr.write('usage: cli.js deb|rpm|tarball [--version V] [--out DIR] [--compression xz|gzip|zstd|none] [--keep-staging] [--node PATH]\n');
    process.exit(64);
  }
} catch (err) {
  process.stderr.write(`packaging failed: ${(err as Error).message}\n`);
  process.exit(1);
}
