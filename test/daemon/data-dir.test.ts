/**
 * Which files the daemon takes back from root (pure), and the real chown as a non-root user with
 * CAP_CHOWN (setpriv), the way usage-agent.service runs it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathsToAdopt } from '../../src/daemon/data-dir.js';

const self = { uid: 998, gid: 997 };
const root = { uid: 0, gid: 0 };
const file = (name: string, o = root) => ({ name, ...o, isFile: true });

describe('pathsToAdopt', () => {
  it("a root-made data dir and the journal files in it, not what is already the daemon's", () => {
    assert.deepEqual(
      pathsToAdopt(
        '/d',
        root,
        [file('journal.db'), file('journal.db-shm'), file('journal.db-wal', self), file('pacct'), file('credentials.json.123.tmp')],
        self,
      ),
      ['/d', '/d/journal.db', '/d/journal.db-shm', '/d/pacct', '/d/credentials.json.123.tmp'],
    );
  });
  it('the session socket and its token directory count as its own (the default socket is in the data dir)', () => {
    const other = (name: string) => ({ name, ...root, isFile: false });
    assert.deepEqual(pathsToAdopt('/d', root, [file('journal.db'), other('agent.sock'), other('tokens')], self), [
      '/d',
      '/d/journal.db',
      '/d/agent.sock',
      '/d/tokens',
    ]);
    assert.deepEqual(pathsToAdopt('/d', root, [other('agent.sock'), other('cache')], self), ['/d/agent.sock']);
  });
  it('never the directory when it holds anything else (a data dir set to /var/lib by mistake)', () => {
    assert.deepEqual(pathsToAdopt('/var/lib', root, [file('journal.db'), { name: 'dpkg', ...root, isFile: false }, file('passwd')], self), [
      '/var/lib/journal.db',
    ]);
  });
  it("nothing when everything is the daemon's already", () => {
    assert.deepEqual(pathsToAdopt('/d', self, [file('journal.db', self), file('status.json', self)], self), []);
  });
  it('a group mismatch alone is adopted too', () => {
    assert.deepEqual(pathsToAdopt('/d', { uid: 998, gid: 0 }, [], self), ['/d']);
  });
});

describe('adoptDataDir as a system user with CAP_CHOWN', () => {
  it('chowns the journal in a root-owned data dir to itself, and nothing that is not its own', () => {
    assert.equal(process.getuid?.(), 0, 'making root-owned files needs root (CI runs as root)');
    const dir = mkdtempSync(join(tmpdir(), 'usage-agent-adopt-'));
    try {
      chmodSync(dir, 0o755);
      const data = join(dir, 'data');
      mkdirSync(data, { mode: 0o700 });
      writeFileSync(join(data, 'journal.db'), 'x', { mode: 0o600 });
      writeFileSync(join(data, 'notes.txt'), 'admin', { mode: 0o600 });
      // A copy the other user can read (it imports only node: modules): a fresh clone may sit in a
      // directory only root can enter.
      const module = join(dir, 'data-dir.mjs');
      copyFileSync(new URL('../../src/daemon/data-dir.js', import.meta.url), module);
      chmodSync(module, 0o644);
      const script = `import(${JSON.stringify(module)}).then((m) => console.log(JSON.stringify(m.adoptDataDir(${JSON.stringify(data)}, { uid: process.getuid(), gid: process.getgid() }, true))))`;
      const r = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          '--inh-caps=+chown,+dac_read_search',
          '--ambient-caps=+chown,+dac_read_search',
          process.execPath,
          '-e',
          script,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      // notes.txt is not the daemon's: the directory stays root's, the journal becomes the daemon's.
      assert.deepEqual(JSON.parse(r.stdout), [join(data, 'journal.db')]);
      assert.equal(statSync(join(data, 'journal.db')).uid, 65534);
      assert.equal(statSync(data).uid, 0);
      assert.equal(statSync(join(data, 'notes.txt')).uid, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
