/**
 * A PostgreSQL cluster for benchmarks and tests run outside `npm test`'s pg_virtualenv: the one the
 * PG* variables name if set, otherwise a throwaway cluster (Debian's initdb + pg_ctl, run as the
 * postgres user when we are root) on a free port in a temporary directory, removed by `stop()`.
 * Sets PGHOST/PGPORT/PGUSER in process.env, so servers started afterwards inherit them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) throw new Error("no PostgreSQL server found under /usr/lib/postgresql: install Debian's postgresql");
  return join(root, versions[0], 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export async function ensurePostgres(): Promise<{ stop(): void }> {
  if (process.env.PGHOST) return { stop() {} };
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'usage-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? 'postgres' : (process.env.USER ?? 'postgres');
  if (asRoot)
    chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), Number(execFileSync('id', ['-g', 'postgres']).toString().trim()));
  const run = (cmd: string, args: string[]) => {
    const r = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr || r.stdout || r.error?.message}`);
  };
  const port = await freePort();
  run(join(bin, 'initdb'), ['-D', data, '-U', user, '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  run(join(bin, 'pg_ctl'), [
    '-D',
    data,
    '-l',
    join(dir, 'log'),
    '-w',
    '-o',
    `-p ${port} -k ${dir} -h 127.0.0.1 -c max_connections=300 -c shared_buffers=128MB`,
    'start',
  ]);
  process.env.PGHOST = '127.0.0.1';
  process.env.PGPORT = String(port);
  process.env.PGUSER = user;
  return {
    stop() {
      try {
        run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        delete process.env.PGHOST;
        delete process.env.PGPORT;
        delete process.env.PGUSER;
      }
    },
  };
}
