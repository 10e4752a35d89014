import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startServer } from '../helpers/server.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'upload-child.js');

test('kill -9 of the agent during uploads, repeated: the server ends with exactly the journal records, each once', async (t) => {
  const srv = await startServer();
  t.after(() => srv.cleanup());
  const dataDir = mkdtempSync(join(tmpdir(), 'uplink-crash-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const total = 6000;
  const stored = () => srv.query<{ n: number }>("SELECT count(*) AS n FROM other_records WHERE type = 'test-rec'")[0]!.n;
  let kills = 0;
  for (let round = 0; round < 6; round++) {
    const before = stored();
    const child = spawn(process.execPath, [CHILD, dataDir, srv.url, String(total)], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => child.kill('SIGKILL'));
    const exited = new Promise((r) => child.once('exit', r));
    // Kill it once the server has taken something new in this round (mid-upload).
    const deadline = Date.now() + 20_000;
    while (stored() <= before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, round * 7));
    child.kill('SIGKILL');
    await exited;
    kills++;
  }
  assert.equal(kills, 6);
  assert.ok(stored() < total, 'the kills happened before everything was uploaded');
  // Last run: let it finish.
  const child = spawn(process.execPath, [CHILD, dataDir, srv.url, String(total)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const deadline = Date.now() + 60_000;
  while (!/drained \d+/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGKILL');
  const m = /(not-)?drained (\d+)/.exec(out);
  assert.ok(m && !m[1], `child reported: ${out}`);
  const lastSeq = Number(m[2]);
  assert.equal(lastSeq, total, 'one record per n, none lost or doubled in the journal itself');
  const creds = JSON.parse(readFileSync(join(dataDir, 'credentials.json'), 'utf8')) as { agentId: string };
  const rows = srv.query<{ seq: number; data: string }>(
    "SELECT seq, data FROM other_records WHERE agent_id = ? AND type = 'test-rec' ORDER BY seq",
    creds.agentId,
  );
  assert.equal(rows.length, total);
  for (let i = 0; i < rows.length; i++) {
    assert.equal(rows[i]!.seq, i + 1);
    assert.equal((JSON.parse(rows[i]!.data) as { n: number }).n, i + 1);
  }
  assert.deepEqual(srv.query('SELECT count(*) AS agents FROM agents'), [{ agents: 1 }], 'one identity across all restarts');
});
