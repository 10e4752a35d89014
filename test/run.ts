/**
 * `npm test`: every test file once on the embedded SQLite store, then the usage-server's own tests
 * (test/server) again on PostgreSQL, so both stores pass the same suite (parameterised by
 * USAGE_SERVER_TEST_STORE, not copied).
 *
 * First the set-up step (test/setup/packages.ts) installs the Debian packages the suite needs when
 * they are missing (as root), or names them and stops.
 *
 * PostgreSQL: when PG* variables name a running cluster (PGHOST, PGPORT, PGUSER, PGPASSWORD) it is
 * used; otherwise Debian's `pg_virtualenv` (package postgresql) makes a throwaway cluster for the
 * pass and removes it after. Without either, the run fails and says what to install.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePackages, TEST_PACKAGES } from './setup/packages.js';

const here = dirname(fileURLToPath(import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? testFiles(p) : f.endsWith('.test.js') ? [p] : [];
    })
    .sort();
}

function run(label: string, cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  process.stdout.write(`\n# ${label}\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (r.error) {
    process.stderr.write(`${label}: cannot run ${cmd}: ${r.error.message}\n`);
    return 1;
  }
  return r.status ?? 1;
}

const nodeTest = (files: string[]) => [process.execPath, '--test', '--test-concurrency=1', ...files];
const all = testFiles(here);
const only = process.argv.slice(2);
const selected = only.length > 0 ? all.filter((f) => only.some((o) => relative(here, f).startsWith(o))) : all;
/** Tests that need both stores at once (`*.pg.test.js`) run in the PostgreSQL pass only. */
const bothStores = (f: string) => f.endsWith('.pg.test.js');
const serverFiles = selected.filter((f) => relative(here, f).startsWith('server/'));

const setup = ensurePackages(Object.keys(TEST_PACKAGES));
if (setup.error) {
  process.stderr.write(`test setup: ${setup.error}\n`);
  process.exit(1);
}

let failed = 0;
const [node, ...sqliteArgs] = nodeTest(selected.filter((f) => !bothStores(f)));
failed += run(`all tests, SQLite store (${sqliteArgs.length - 2} files)`, node, sqliteArgs, process.env) === 0 ? 0 : 1;

if (serverFiles.length > 0) {
  const env = { ...process.env, USAGE_SERVER_TEST_STORE: 'postgres' };
  const label = `usage-server tests, PostgreSQL store (${serverFiles.length} files)`;
  if (process.env.PGHOST) {
    failed += run(label, node, nodeTest(serverFiles).slice(1), env) === 0 ? 0 : 1;
  } else if (spawnSync('pg_virtualenv', ['-h'], { stdio: 'ignore' }).error === undefined) {
    failed += run(label, 'pg_virtualenv', nodeTest(serverFiles), env) === 0 ? 0 : 1;
  } else {
    process.stderr.write(`${label}: no PostgreSQL: set PGHOST/PGPORT/PGUSER/PGPASSWORD to a cluster, or install Debian's postgresql (pg_virtualenv)\n`);
    failed++;
  }
}
process.exit(failed === 0 ? 0 : 1);
