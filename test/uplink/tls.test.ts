/**
 * The agent over TLS, end to end: a real `usage-agent run` against a real usage-server serving
 * HTTPS with an openssl-made PKI that requires client certificates. Each misconfiguration (wrong
 * CA, pin mismatch, no client certificate, server certificate for another name, expired server
 * certificate) is refused, shown in `usage-agent status` with its reason, logged once, and
 * retried; the journal keeps every record meanwhile. Once fixed, every record is acknowledged,
 * each exactly once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { journalState, startAgent } from '../helpers/agent.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';
import { makePki } from '../helpers/tls.js';

test('TLS refusals (unknown CA, pin mismatch, no client certificate, name mismatch, expired) are shown in status with the reason, logged once, retried; once fixed every record is acknowledged exactly once', async (t) => {
  const pki = makePki(t);
  const ca = pki.ca('server-ca');
  const otherCa = pki.ca('other-ca');
  const clientCa = pki.ca('client-ca');
  const good = pki.issue(ca, 'good', { ips: ['127.0.0.1'] });
  const backup = pki.issue(ca, 'backup', { ips: ['127.0.0.1'], keyType: 'rsa' });
  const wrongName = pki.issue(ca, 'wrong-name', { dns: ['usage.example.com'] });
  const expired = pki.issue(ca, 'expired', { ips: ['127.0.0.1'], days: -1 });
  const client = pki.issue(clientCa, 'ws-1', { client: true });
  const dir = mkdtempSync(join(tmpdir(), 'uplink-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const live = { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
  const serve = async (c: { cert: string; key: string }) => {
    copyFileSync(c.cert, live.cert);
    copyFileSync(c.key, live.key);
  };
  await serve(good);
  const srv = await startServer({
    config: { tls: { certFile: live.cert, keyFile: live.key, clientCaFile: clientCa.cert, requireClientCert: true } },
    https: { ca: ca.pem, cert: readFileSync(client.cert, 'utf8'), key: readFileSync(client.key, 'utf8') },
  });
  t.after(() => srv.cleanup());
  let reloads = 0;
  const reload = async (c: { cert: string; key: string }) => {
    await serve(c);
    reloads++;
    process.kill(srv.pid(), 'SIGHUP');
    const until = Date.now() + 10_000;
    while ((srv.output().match(/TLS certificate and key reloaded/g)?.length ?? 0) < reloads && Date.now() < until) await sleep(20);
    assert.equal(srv.output().match(/TLS certificate and key reloaded/g)?.length, reloads, 'the server reloaded');
  };

  const base = {
    url: srv.url,
    enrollSecret: TEST_ENROLL_SECRET,
    caFile: ca.cert,
    clientCertFile: client.cert,
    clientKeyFile: client.key,
    uploadIntervalMs: 200,
    maxBackoffMs: 500,
    requestTimeoutMs: 3000,
  };
  const agentConfig = (server: Record<string, unknown>) => ({
    processes: { sampler: 'procfs', pacct: 'off', sampleIntervalMs: 500 },
    activity: { enabled: false },
    software: { enabled: false },
    log: { level: 'warn' },
    journal: { flushIntervalMs: 100 },
    server,
  });
  const { clientCertFile: _c, clientKeyFile: _k, ...withoutClientCert } = base;
  const phases: Array<{ reason: string; server: Record<string, unknown>; serverCert?: { cert: string; key: string } }> = [
    { reason: 'unknown-ca', server: { ...base, caFile: otherCa.cert } },
    { reason: 'pin-mismatch', server: { ...base, pinSha256: [pki.pin(client.cert), pki.pin(backup.cert)] } },
    { reason: 'client-cert-refused', server: withoutClientCert },
    { reason: 'name-mismatch', server: base, serverCert: wrongName },
    { reason: 'expired', server: base, serverCert: expired },
  ];

  const agent = await startAgent(t, agentConfig(phases[0]!.server), { captureLog: true });
  const uplink = () => agent.status().daemon?.components?.uplink as Record<string, any> | undefined;
  // Lines of the agent process of this phase: the previous phase's process may still see the next
  // certificate (reloaded before it is stopped) and say so once itself.
  const refusedLines = (reason: string) =>
    agent
      .stdout()
      .split('\n')
      .filter((l) => l.includes(`"pid":${agent.child.pid},`) && l.includes('TLS connection to the usage-server refused') && l.includes(`"reason":"${reason}"`))
      .length;

  // Records pile up from programs this test runs itself, not from whatever else the machine runs:
  // a quiet CI machine started too few processes of its own during the refusals (7 records once).
  let churning = true;
  const churn = (async () => {
    while (churning) await new Promise((r) => spawn('sleep', ['0.7'], { stdio: 'ignore' }).once('exit', r));
  })();
  t.after(async () => {
    churning = false;
    await churn;
  });

  for (const [i, phase] of phases.entries()) {
    if (phase.serverCert) await reload(phase.serverCert);
    if (i > 0) {
      writeFileSync(agent.configPath, JSON.stringify(agentConfig(phase.server)));
      await agent.restart();
    }
    // status.json is rewritten every 5 s: wait for it to show this phase's refusal, retried.
    const until = Date.now() + 30_000;
    let u = uplink();
    while (!(u?.tls?.reason === phase.reason && u.consecutiveFailures >= 3) && Date.now() < until) {
      await sleep(250);
      u = uplink();
    }
    assert.equal(u?.tls?.reason, phase.reason, `phase ${phase.reason}: status shows the reason: ${JSON.stringify(u)}`);
    assert.ok(u!.consecutiveFailures >= 3, `phase ${phase.reason}: retried (${u!.consecutiveFailures} failures)`);
    assert.equal(u!.state, 'offline');
    assert.equal(typeof u!.tls.detail, 'string');
    assert.equal(refusedLines(phase.reason), 1, `phase ${phase.reason}: logged once for ${u!.consecutiveFailures} failures:\n${agent.stdout()}`);
    const s = journalState(agent.dataDir);
    assert.equal(s.acked, 0, `phase ${phase.reason}: nothing acknowledged`);
  }
  // Text status names the reason too.
  const { runAgentCli } = await import('../helpers/cli.js');
  const text = runAgentCli(['status', '--data-dir', agent.dataDir, '--config', agent.configPath]);
  assert.match(text.stdout, /reason: expired/);
  assert.deepEqual(srv.query('SELECT id FROM agents'), [], 'no agent ever got through');

  // Fixed: a valid certificate again, the agent with its client certificate and the right pins (the backup pin first).
  await reload(good);
  writeFileSync(agent.configPath, JSON.stringify(agentConfig({ ...base, pinSha256: [pki.pin(backup.cert), pki.pin(good.cert)] })));
  const journaled = journalState(agent.dataDir).lastSeq;
  assert.ok(journaled > 10, `records piled up while refused (${journaled})`);
  churning = false;
  await churn;
  await agent.restart();
  const until = Date.now() + 30_000;
  let s = journalState(agent.dataDir);
  while (!(s.acked >= journaled && s.acked === s.lastSeq) && Date.now() < until) {
    await sleep(100);
    s = journalState(agent.dataDir);
  }
  assert.ok(s.acked >= journaled, `every record journaled while refused is acknowledged (${s.acked} of ${journaled})`);
  const until2 = Date.now() + 10_000;
  while (uplink()?.state !== 'online' && Date.now() < until2) await sleep(250);
  const after = uplink();
  assert.equal(after?.state, 'online');
  assert.equal(after?.tls, null, 'no TLS failure shown once fixed');
  assert.equal(after?.duplicates, 0, 'the server counted no duplicate');
  assert.equal(await agent.stop(), 0);
  const agents = srv.query<{ id: string; acked_seq: number }>('SELECT id, acked_seq FROM agents');
  assert.equal(agents.length, 1);
  const id = agents[0]!.id;
  const stored = srv.query<{ seq: number }>(
    `SELECT seq FROM process_records WHERE agent_id = ? UNION ALL SELECT seq FROM activity_records WHERE agent_id = ?
     UNION ALL SELECT seq FROM other_records WHERE agent_id = ? UNION ALL SELECT seq FROM usage_events WHERE agent_id = ? AND origin = 'agent' ORDER BY seq`,
    id,
    id,
    id,
    id,
  );
  const seqs = stored.map((r) => r.seq);
  assert.equal(seqs.length, agents[0]!.acked_seq, 'as many records stored as acknowledged');
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => i + 1),
    'seqs 1..n, each exactly once',
  );
  assert.ok(seqs.length >= journaled);
});
