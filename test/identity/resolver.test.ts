/**
 * The resolver's cache policy with an exact clock and a recording NSS source (the real getent path
 * is tested in nss.test.ts against Debian's libnss-extrausers).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdentityResolver, formatUserName, type IdKind, type NameLookup } from '../../src/identity/resolver.js';
import { PortableSampler, type ProcessSource } from '../../src/collectors/processes/portable.js';
import { ProcessTracker } from '../../src/collectors/processes/tracker.js';

class Directory {
  readonly asked: string[] = [];
  readonly names = new Map<string, string>();
  private release: Array<() => void> = [];
  hold = false;
  lookup = (kind: IdKind, id: number): Promise<string | null> => {
    this.asked.push(`${kind}:${id}`);
    const answer = () => this.names.get(`${kind}:${id}`) ?? null;
    if (!this.hold) return Promise.resolve(answer());
    return new Promise((resolve) => this.release.push(() => resolve(answer())));
  };
  releaseAll(): void {
    const r = this.release;
    this.release = [];
    for (const f of r) f();
  }
}

const localFiles = (users: Record<number, string>, groups: Record<number, string> = {}): NameLookup => ({
  user: (uid) => users[uid] ?? null,
  group: (gid) => groups[gid] ?? null,
});

test('formatUserName: name, DOMAIN\\name, name@realm; already-qualified names are re-qualified, not doubled', () => {
  assert.equal(formatUserName('ann', 'name', 'CORP'), 'ann');
  assert.equal(formatUserName('ann', 'DOMAIN\\name', 'CORP'), 'CORP\\ann');
  assert.equal(formatUserName('ann', 'name@realm', 'CORP.EXAMPLE.COM'), 'ann@CORP.EXAMPLE.COM');
  assert.equal(formatUserName('ann@corp.example.com', 'DOMAIN\\name', 'CORP'), 'CORP\\ann');
  assert.equal(formatUserName('OLD\\ann', 'name@realm', 'corp.example.com'), 'ann@corp.example.com');
  assert.equal(formatUserName('ann@corp.example.com', 'name', 'CORP'), 'ann@corp.example.com');
  assert.throws(() => new IdentityResolver({ userFormat: 'DOMAIN\\name' }), /needs identity\.domain/);
});

test('local users are named at once without NSS; a directory user is null until NSS answers, then named', async () => {
  const dir = new Directory();
  dir.names.set('passwd:70001', 'dana');
  dir.names.set('group:70001', 'engineers');
  dir.hold = true;
  const r = new IdentityResolver({ nss: dir.lookup, files: localFiles({ 0: 'root' }, { 0: 'root' }) });
  assert.equal(r.user(0), 'root');
  assert.equal(r.group(0), 'root');
  assert.deepEqual(dir.asked, []);
  assert.equal(r.user(70001), null); // never waits
  assert.equal(r.user(70001), null);
  assert.equal(r.group(70001), null);
  assert.deepEqual(dir.asked, ['passwd:70001', 'group:70001']); // one lookup per id, however often asked
  const waiting = r.userAsync(70001);
  dir.releaseAll();
  assert.equal(await waiting, 'dana');
  await r.settled();
  assert.equal(r.user(70001), 'dana');
  assert.equal(r.group(70001), 'engineers');
  assert.equal(dir.asked.length, 2);
});

test('userFormat applies to local and directory users alike; groups keep their names', async () => {
  const dir = new Directory();
  dir.names.set('passwd:70001', 'dana');
  const r = new IdentityResolver({ userFormat: 'DOMAIN\\name', domain: 'CORP', nss: dir.lookup, files: localFiles({ 1000: 'ann' }, { 1000: 'staff' }) });
  assert.equal(r.user(1000), 'CORP\\ann');
  assert.equal(r.group(1000), 'staff');
  assert.equal(await r.userAsync(70001), 'CORP\\dana');
  const realm = new IdentityResolver({ userFormat: 'name@realm', domain: 'CORP.EXAMPLE.COM', nss: dir.lookup, files: localFiles({}) });
  assert.equal(await realm.userAsync(70001), 'dana@CORP.EXAMPLE.COM');
});

test('refresh: a stale name is served while NSS is asked again; an unknown id is re-asked only after negativeMs', async () => {
  let now = 1_000_000;
  const dir = new Directory();
  dir.names.set('passwd:70001', 'dana');
  const r = new IdentityResolver({ nss: dir.lookup, files: localFiles({}), refreshMs: 60_000, negativeMs: 10_000, now: () => now });
  assert.equal(await r.userAsync(70001), 'dana');
  assert.equal(await r.userAsync(70002), null);
  assert.deepEqual(dir.asked, ['passwd:70001', 'passwd:70002']);
  now += 9_999;
  r.user(70001);
  r.user(70002);
  assert.equal(dir.asked.length, 2);
  now += 1;
  dir.names.set('passwd:70002', 'eli'); // created in the directory meanwhile
  assert.equal(r.user(70002), null); // the miss is stale: asked again in the background
  await r.settled();
  assert.equal(r.user(70002), 'eli');
  dir.names.set('passwd:70001', 'dana.renamed');
  now += 50_000; // 60 s after the first answer
  assert.equal(r.user(70001), 'dana'); // served while refreshed
  await r.settled();
  assert.equal(r.user(70001), 'dana.renamed');
  assert.deepEqual(dir.asked, ['passwd:70001', 'passwd:70002', 'passwd:70002', 'passwd:70001']);
});

test('bounded: at most maxEntries names are kept (least recently used go first); at most maxConcurrent lookups run', async () => {
  const dir = new Directory();
  for (let i = 0; i < 10; i++) dir.names.set(`passwd:${80000 + i}`, `u${i}`);
  dir.hold = true;
  let inFlight = 0;
  let maxInFlight = 0;
  const counting = async (kind: IdKind, id: number) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      return await dir.lookup(kind, id);
    } finally {
      inFlight--;
    }
  };
  const r = new IdentityResolver({ nss: counting, files: localFiles({}), maxEntries: 4, maxConcurrent: 2 });
  const all = Array.from({ length: 10 }, (_, i) => r.userAsync(80000 + i));
  assert.equal(dir.asked.length, 2);
  while (dir.asked.length < 10 || inFlight > 0) {
    dir.releaseAll();
    await new Promise((res) => setImmediate(res));
  }
  assert.deepEqual(
    await Promise.all(all),
    Array.from({ length: 10 }, (_, i) => `u${i}`),
  );
  assert.equal(maxInFlight, 2);
  assert.equal(r.stats().cached, 4);
  dir.hold = false;
  assert.equal(r.user(80009), 'u9'); // among the 4 youngest
  assert.equal(r.user(80000), null); // evicted: looked up again
  assert.equal(dir.asked.filter((k) => k === 'passwd:80000').length, 2);
});

test('without NSS (no getent) the files are all there is, and a miss is not re-read on every call', async () => {
  let fileReads = 0;
  const files: NameLookup = {
    user: (uid) => {
      fileReads++;
      return uid === 1000 ? 'ann' : null;
    },
    group: () => null,
  };
  let nssCalls = 0;
  const r = new IdentityResolver({ nss: async () => (nssCalls++, undefined), files, negativeMs: 60_000 });
  assert.equal(await r.userAsync(70001), null);
  const reads = fileReads;
  for (let i = 0; i < 100; i++) assert.equal(r.user(70001), null);
  assert.equal(fileReads, reads);
  assert.equal(r.user(1000), 'ann');
  assert.equal(nssCalls, 1);
  assert.equal(r.stats().nss, 'custom');
});

test("the portable sampler (macOS/Windows) writes the OS's user names in the userFormat too", async () => {
  const r = new IdentityResolver({ userFormat: 'DOMAIN\\name', domain: 'CORP', nss: async () => null, files: localFiles({}) });
  const started = new Date(Date.now() - 5000).toISOString();
  const proc = (pid: number, user: string) => ({
    pid,
    parentPid: 1,
    name: 'cad',
    cpuu: 0,
    cpus: 0,
    memVsz: 0,
    memRss: 0,
    started,
    user,
    command: 'cad',
    params: '',
    path: '/opt/cad',
  });
  const source: ProcessSource = { list: async () => [proc(10, 'dana'), proc(11, 'OLDDOM\\eli'), proc(12, '')] };
  const tracker = new ProcessTracker();
  const sampler = new PortableSampler(source, false, undefined, (n) => r.formatUser(n));
  await sampler.sample(tracker);
  assert.deepEqual(
    [10, 11, 12].map((pid) => tracker.get(pid)?.details?.user),
    ['CORP\\dana', 'CORP\\eli', null],
  );
});
