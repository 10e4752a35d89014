import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServer, type TestServer } from '../helpers/server.js';
import { waitFor } from '../helpers/wait.js';
import { exited, startRig } from './harness.js';

/** Unique per test process, so a concurrent test run's programs are never matched by this one. */
const EXE = `gatecad-${process.pid}`;

async function server(t: { after(fn: () => void | Promise<void>): void }, product: Record<string, unknown>): Promise<TestServer> {
  const srv = await startServer({ products: [{ id: 'cad', name: 'CAD Pro', match: { executables: [EXE], paths: [] }, leaseTtlSeconds: 30, ...product }] });
  t.after(() => srv.cleanup());
  return srv;
}

/**
 * The controlled program: a copy of dash named EXE whose own first action is to write `file`
 * 50 ms after it starts (`sleep 0.05; echo ran > file`).
 */
function programIn(dir: string): (file: string) => ChildProcess {
  const exe = join(dir, EXE);
  copyFileSync('/bin/sh', exe);
  return (file) => spawn(exe, ['-c', 'sleep 0.05; echo ran > "$0"', file], { stdio: 'ignore' });
}

/**
 * A real usage-server with `seats` seats (onDeny terminate) whose policy gates the product
 * (`gate: true`), and the in-process agent polling every 10 ms.
 */
async function gated(t: { after(fn: () => void | Promise<void>): void }, seats: number) {
  const srv = await server(t, { seats, onDeny: 'terminate', queue: false, gate: true });
  const rig = await startRig(t, srv, { leases: { launchPollMs: 10 } });
  await waitFor(() => rig.uplink.client.policy()?.products.some((p) => p.id === 'cad' && p.gate === true), 'policy with gate');
  const dir = mkdtempSync(join(tmpdir(), 'gate-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const enforcer = rig.components.find((c) => c.name === 'enforcer')!;
  const entries = () => (enforcer.status!() as { leases: unknown[] }).leases.length;
  return { rig, dir, start: programIn(dir), entries };
}

type GateStatus = { stopped: number; execToStopMs: { p50: number | null; p95: number | null; max: number | null; of: number } };
const gateStatus = (rig: Awaited<ReturnType<typeof startRig>>) => (rig.components.find((c) => c.name === 'enforcer')!.status!() as { gate: GateStatus }).gate;

test('gate + a denying server (terminate): in 200 launches the program never gets to its first action, and each is killed while stopped', async (t) => {
  const { rig, dir, start, entries } = await gated(t, 0);
  for (let i = 0; i < 200; i++) {
    const file = join(dir, `ran-${i}`);
    const prog = start(file);
    const end = await exited(prog);
    assert.equal(end.signal, 'SIGKILL', `launch ${i}: ended by ${end.signal ?? `exit ${end.code}`}`);
    assert.equal(existsSync(file), false, `launch ${i}: the program wrote its file`);
    // The exit is seen and the entry gone before the next launch, so every launch is asked about.
    await waitFor(() => entries() === 0, `entry of launch ${i} cleared`);
  }
  // Nothing is written late either (a program continued by mistake would write 50 ms after).
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < 200; i++) assert.equal(existsSync(join(dir, `ran-${i}`)), false);
  // At least one stop per launch; dash's child for `sleep` is a copy of the program until its exec,
  // and is stopped too when the watcher sees it in that window.
  const gate = gateStatus(rig);
  assert.ok(gate.stopped >= 200, `stopped ${gate.stopped}`);
  assert.equal(gate.execToStopMs.of, gate.stopped);
  await waitFor(() => rig.serverEvents().filter((e) => e.code === 7).length === 200, '200 deny events on the server');
  assert.equal(rig.serverEvents().filter((e) => e.code === 3).length, 0, 'no launch event: it never ran licensed');
  const shown = rig.notifier.shown.filter((n) => n.title === 'CAD Pro was not started');
  assert.equal(shown.length > 0, true);
  t.diagnostic(`exec to SIGSTOP over 200 launches: p50 ${gate.execToStopMs.p50} ms, p95 ${gate.execToStopMs.p95} ms, max ${gate.execToStopMs.max} ms`);
});

test('gate + a granting server: every launch is stopped, continued on the grant and does its work', async (t) => {
  const { rig, dir, start, entries } = await gated(t, 5);
  const pids: number[] = [];
  for (let i = 0; i < 5; i++) {
    const file = join(dir, `ran-${i}`);
    const prog = start(file);
    pids.push(prog.pid!);
    const end = await exited(prog);
    assert.deepEqual(end, { code: 0, signal: null }, `launch ${i}`);
    assert.equal(existsSync(file), true, `launch ${i}: the granted program did its work`);
    // Released before the next launch, so each one goes through the gate (a launch while the
    // lease is held joins it and is not stopped).
    await waitFor(() => entries() === 0, `entry of launch ${i} released`);
  }
  assert.ok(gateStatus(rig).stopped >= 5, `stopped ${gateStatus(rig).stopped}`);
  // One launch event per program at least: dash's child for `sleep` may be seen as a copy of the
  // program before its exec and be reported as an instance too (its own 3/4 pair).
  await waitFor(
    () => pids.every((pid) => rig.serverEvents().some((e) => e.code === 3 && e.pid === pid)),
    'a launch event for each of the five programs',
    20_000,
    { detail: () => JSON.stringify({ pids, events: rig.serverEvents().map((e) => `${e.code}:${e.pid}`) }) },
  );
});
