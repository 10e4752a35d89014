/**
 * metrics.textfileDir: a real daemon (`usage-agent run`) with a real usage-server writes
 * usage_agent.prom for node_exporter's textfile collector; the file parses as Prometheus text
 * format 0.0.4 (a strict parser below) and its numbers are those of `usage-agent status --json`.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderMetrics } from '../../src/daemon/metrics.js';
import { startAgent } from '../helpers/agent.js';
import { readRecords, sleep, startAgentProcess, writeConfig } from '../helpers/session.js';
import { runAgentCli, tempDir } from '../helpers/cli.js';
import { startServer, TEST_ENROLL_SECRET } from '../helpers/server.js';

interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Prometheus text exposition format 0.0.4, strictly: HELP/TYPE lines before their samples, one TYPE
 * per family, metric and label names by the spec's grammar, escaped label values, float values,
 * no series twice, a final newline. Throws naming the line on anything else.
 */
function parsePrometheus(text: string): { types: Map<string, string>; series: Series[] } {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const seen = new Set<string>();
  const series: Series[] = [];
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, i) => {
      const where = `line ${i + 1}: ${JSON.stringify(line)}`;
      let m: RegExpExecArray | null;
      if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line))) {
        assert.ok(!helps.has(m[1]!), `${where}: second HELP`);
        assert.doesNotMatch(m[2]!, /\\(?![\\n])/, `${where}: bad escape in HELP`);
        helps.add(m[1]!);
      } else if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
        assert.ok(!types.has(m[1]!), `${where}: second TYPE`);
        assert.ok(!series.some((s) => s.name === m![1]), `${where}: TYPE after its samples`);
        types.set(m[1]!, m[2]!);
      } else if (line.startsWith('#')) {
        assert.fail(`${where}: a comment line that is neither HELP nor TYPE`);
      } else {
        m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`).exec(line);
        assert.ok(m, `${where}: not a sample`);
        const labels: Record<string, string> = {};
        let rest = m[2] ?? '';
        while (rest.length > 0) {
          const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
          assert.ok(l, `${where}: bad label set`);
          assert.ok(!(l[1]! in labels), `${where}: label twice`);
          labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
          rest = rest.slice(l[0].length);
        }
        assert.match(m[3]!, /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]?Inf|NaN)$/, `${where}: bad value`);
        assert.ok(types.has(m[1]!), `${where}: sample before its TYPE`);
        const key = `${m[1]}{${Object.entries(labels)
          .sort()
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}}`;
        assert.ok(!seen.has(key), `${where}: series twice`);
        seen.add(key);
        series.push({ name: m[1]!, labels, value: Number(m[3]) });
      }
    });
  return { types, series };
}

test('the strict parser refuses what Prometheus refuses', () => {
  const bad = [
    'x 1\n',
    '# TYPE x gauge\nx 1\nx 1\n',
    '# TYPE x gauge\nx{a="1} 1\n',
    '# TYPE x gauge\nx one\n',
    '# TYPE x gauge\nx 1',
    '# TYPE 1x gauge\n1x 1\n',
    '# TYPE x gauge\nx{a="\\q"} 1\n',
  ];
  for (const b of bad) assert.throws(() => parsePrometheus(b), assert.AssertionError, JSON.stringify(b));
  assert.equal(parsePrometheus('# HELP x a\\nb\n# TYPE x gauge\nx{a="q\\"\\\\"} 1.5e3\n').series[0]!.labels.a, 'q"\\');
  // The renderer escapes what it is given: a help text and label values survive the round trip.
  const text = renderMetrics({ pid: 1, startedAt: new Date(0).toISOString(), updatedAt: new Date(0).toISOString(), components: {} }, false, 0);
  assert.ok(parsePrometheus(text).series.some((s) => s.name === 'usage_agent_running' && s.value === 1));
});

test('metrics.textfileDir: usage_agent.prom parses as Prometheus text and matches status --json; a clean stop leaves running 0', {
  timeout: 120_000,
}, async (t) => {
  const srv = await startServer({ products: [{ id: 'cad', seats: 2, match: { executables: ['ua-metrics-cad'], paths: [] } }] });
  t.after(() => srv.cleanup());
  const dir = tempDir(t, 'ua-textfile-');
  const agent = await startAgent(t, {
    processes: { sampleIntervalMs: 200, pacct: 'auto' },
    server: { url: srv.url, enrollSecret: TEST_ENROLL_SECRET, uploadIntervalMs: 200 },
    metrics: { textfileDir: dir },
  });
  const file = join(dir, 'usage_agent.prom');

  // One status and one metrics file from the same write (the daemon writes both every 5 s), after an upload.
  let status: Record<string, any> | undefined;
  let parsed: ReturnType<typeof parsePrometheus> | undefined;
  const until = Date.now() + 40_000;
  for (;;) {
    if (existsSync(file)) {
      const s = JSON.parse(runAgentCli(['status', '--json', '--config', agent.configPath, '--data-dir', agent.dataDir]).stdout);
      const p = parsePrometheus(readFileSync(file, 'utf8'));
      const stamp = p.series.find((x) => x.name === 'usage_agent_status_updated_timestamp_seconds')?.value;
      if (stamp === Date.parse(s.daemon.updatedAt) / 1000 && s.daemon.components.uplink.lastUploadAt) {
        status = s;
        parsed = p;
        break;
      }
    }
    assert.ok(Date.now() < until, `no matching status and metrics file; dir has ${readdirSync(dir).join(', ')}; agent stderr: ${agent.stderr()}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.deepEqual(readdirSync(dir), ['usage_agent.prom'], 'no temp file left beside it');
  const v = (name: string, labels: Record<string, string> = {}) => {
    const s = parsed!.series.filter((x) => x.name === name && Object.entries(labels).every(([k, l]) => x.labels[k] === l));
    assert.equal(s.length, 1, `one ${name} ${JSON.stringify(labels)}`);
    return s[0]!.value;
  };
  const c = status!.daemon.components;
  assert.equal(v('usage_agent_running'), 1);
  assert.equal(v('usage_agent_healthy'), status!.healthy ? 1 : 0);
  assert.equal(v('usage_agent_healthy'), 1);
  for (const check of status!.health.checks)
    assert.equal(v('usage_agent_capability_problem', { capability: check.capability }), check.state === 'problem' ? 1 : 0, check.capability);
  assert.equal(v('usage_agent_journal_last_seq'), status!.daemon.journal.lastSeq);
  assert.ok(v('usage_agent_journal_last_seq') > 0);
  assert.equal(v('usage_agent_journal_acked_through_seq'), status!.daemon.journal.ackedThroughSeq);
  assert.equal(v('usage_agent_processes_tracked'), c.processes.processesTracked);
  assert.equal(v('usage_agent_process_samples_total'), c.processes.samplesTaken);
  for (const source of ['ps', 'pacct', 'both']) assert.equal(v('usage_agent_process_records_total', { source }), c.processes.recordsEmitted[source]);
  assert.equal(v('usage_agent_pacct_reading'), 1);
  assert.equal(v('usage_agent_pacct_taken_over'), 0);
  assert.equal(v('usage_agent_pacct_records_read_total'), c.processes.pacct.recordsRead);
  assert.equal(v('usage_agent_server_online'), 1);
  assert.equal(v('usage_agent_backlog_records'), c.uplink.backlogRecords);
  assert.equal(v('usage_agent_backlog_records'), status!.health.backlogRecords);
  assert.equal(v('usage_agent_uploaded_records_total'), c.uplink.uploadedRecords);
  assert.ok(v('usage_agent_uploaded_records_total') > 0);
  assert.equal(v('usage_agent_upload_errors_total'), c.uplink.retries);
  assert.equal(v('usage_agent_last_upload_timestamp_seconds'), Date.parse(c.uplink.lastUploadAt) / 1000);
  assert.equal(v('usage_agent_leases_held'), c.enforcer.leases.length);
  assert.equal(v('usage_agent_policy_products'), 1);
  assert.equal(v('usage_agent_notifications_total'), c.enforcer.notifications);
  assert.equal(v('usage_agent_notifications_pending'), c.enforcer.pendingNotifications);
  assert.equal(v('usage_agent_journal_used_bytes'), c['journal-bound'].usedBytes);
  assert.equal(parsed!.types.get('usage_agent_uploaded_records_total'), 'counter');
  assert.equal(parsed!.types.get('usage_agent_backlog_records'), 'gauge');

  assert.equal(await agent.stop(), 0);
  const stopped = parsePrometheus(readFileSync(file, 'utf8'));
  assert.deepEqual(
    stopped.series.map((s) => [s.name, s.value]),
    [
      ['usage_agent_running', 0],
      ['usage_agent_healthy', 0],
    ],
  );
});

test('metrics.textfileDir that cannot be written: the daemon keeps collecting and logs one error naming the key and file', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t, 'ua-textfile-');
  const missing = join(dir, 'no-such-dir');
  const data = join(dir, 'data');
  const config = writeConfig(dir, {
    processes: { sampleIntervalMs: 200, pacct: 'off' },
    journal: { flushIntervalMs: 100 },
    metrics: { textfileDir: missing },
    log: { level: 'info' },
  });
  const daemon = startAgentProcess(['run', '--config', config, '--data-dir', data], join(dir, 'daemon.log'));
  t.after(() => daemon.stop());
  await daemon.waitForOutput(/cannot write the metrics file/);
  await sleep(5500); // a second status write
  const errors = daemon
    .output()
    .split('\n')
    .filter((l) => l.includes('cannot write the metrics file'));
  assert.equal(errors.length, 1, daemon.output());
  assert.match(errors[0]!, /"key":"metrics\.textfileDir"/);
  assert.ok(errors[0]!.includes(join(missing, 'usage_agent.prom')));
  assert.ok(readRecords(data, 'software').length > 0, 'collection goes on');
  const st = runAgentCli(['status', '--data-dir', data, '--config', config]);
  assert.equal(st.code, 0, `metrics are not a capability status fails on:\n${st.stdout}`);
});
