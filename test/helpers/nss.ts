/**
 * Test helper: directory users made real with Debian's libnss-extrausers, visible only to the
 * processes a test starts through `wrap()`.
 *
 * The users live in a temp dir that is bind-mounted over /var/lib/extrausers, and a copy of
 * /etc/nsswitch.conf with `extrausers` added to passwd and group is bind-mounted over the real
 * one, both inside a private mount namespace (`unshare --mount`) that the wrapped command runs
 * in. Nothing on the machine changes: no file is edited, so there is nothing to restore, and if
 * the test dies the namespace dies with its last process. The users are never in /etc/passwd.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface DirectoryUser {
  name: string;
  uid: number;
  group: string;
  gid: number;
}

export interface Directory {
  users: DirectoryUser[];
  /** [command, args] running `command args` inside the namespace where the users exist. */
  wrap(command: string, args: string[]): [string, string[]];
  /** getent inside the namespace (for preconditions). */
  getent(db: 'passwd' | 'group', key: string | number): string;
}

/** nsswitch.conf with `extrausers` after `files` for passwd and group. */
export function withExtrausers(nsswitch: string): string {
  return nsswitch
    .split('\n')
    .map((line) => {
      const m = /^(passwd|group):(\s+)(.*)$/.exec(line);
      if (!m) return line;
      const sources = m[3]!.split(/\s+/).filter((s) => s && s !== 'extrausers');
      const at = sources.indexOf('files');
      sources.splice(at >= 0 ? at + 1 : 0, 0, 'extrausers');
      return `${m[1]}:${m[2]}${sources.join(' ')}`;
    })
    .join('\n');
}

export function createDirectory(t: { after(fn: () => void): void }, users: DirectoryUser[]): Directory {
  if (process.getuid?.() !== 0) throw new Error('directory users need root (mount namespaces)');
  if (!existsSync('/usr/lib/libnss_extrausers.so.2') && !existsSync('/lib/x86_64-linux-gnu/libnss_extrausers.so.2')) {
    throw new Error('libnss-extrausers is not installed (apt-get install libnss-extrausers; see .ci/run)');
  }
  if (!existsSync('/var/lib/extrausers')) throw new Error('/var/lib/extrausers is missing (libnss-extrausers creates it)');
  const dir = mkdtempSync(join(tmpdir(), 'ua-nss-'));
  chmodSync(dir, 0o755);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ext = join(dir, 'extrausers');
  spawnSync('mkdir', ['-m', '0755', ext]);
  writeFileSync(join(ext, 'passwd'), users.map((u) => `${u.name}:x:${u.uid}:${u.gid}:directory user:/nonexistent:/usr/sbin/nologin\n`).join(''), {
    mode: 0o644,
  });
  writeFileSync(join(ext, 'group'), users.map((u) => `${u.group}:x:${u.gid}:\n`).join(''), { mode: 0o644 });
  writeFileSync(join(ext, 'shadow'), '', { mode: 0o640 });
  const nss = join(dir, 'nsswitch.conf');
  writeFileSync(nss, withExtrausers(readFileSync('/etc/nsswitch.conf', 'utf8')), { mode: 0o644 });
  const script = 'mount --bind "$1" /etc/nsswitch.conf && mount --bind "$2" /var/lib/extrausers && shift 2 && exec "$@"';
  const wrap = (command: string, args: string[]): [string, string[]] => [
    'unshare',
    ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, 'sh', nss, ext, command, ...args],
  ];
  return {
    users,
    wrap,
    getent(db, key) {
      const [cmd, args] = wrap('getent', [db, String(key)]);
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      return r.status === 0 ? r.stdout.trim() : `(getent exit ${r.status}: ${r.stderr.trim()})`;
    },
  };
}
