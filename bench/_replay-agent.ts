/**
 * Child process of bench/replay: the agent side only (journal + uplink), so its peak RSS is the
 * agent's. argv: journalDir serverUrl batchSize. Prints one JSON line when the journal is drained.
 */
import { join } from 'node:path';
import { Journal } from '../src/journal/journal.js';
import { UplinkClient } from '../src/uplink/client.js';
import { Uploader } from '../src/uplink/uploader.js';
import { TEST_ENROLL_SECRET } from '../test/helpers/server.js';

const [dir, url, batchArg] = process.argv.slice(2) as [string, string, string];
const journal = Journal.open(join(dir, 'journal.db'));
const client = new UplinkClient({
  url,
  enrollSecret: TEST_ENROLL_SECRET,
  requestTimeoutMs: 60_000,
  dataDir: dir,
  hostname: 'ws-bench',
  nextSeq: () => journal.ackedThroughSeq() + 1,
});
const up = new Uploader(journal, client, {
  batchSize: Number(batchArg),
  intervalMs: 1000,
  maxBackoffMs: 1000,
  hostname: 'ws-bench',
  maxBodyBytes: 5 * 1024 * 1024 - 64 * 1024,
});
const records = journal.lastSeq() - journal.ackedThroughSeq();
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
let r: string;
let retries = 0;
while ((r = await up.uploadOnce()) !== 'idle') if (r === 'retry') retries++;
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  `${JSON.stringify({ records, seconds, peakRssBytes: process.resourceUsage().maxRSS * 1024, cpuUserSeconds: cpu.user / 1e6, cpuSystemSeconds: cpu.system / 1e6, retries, acked: journal.ackedThroughSeq(), batches: up.stats.batches })}\n`,
);
journal.close();
await client.close();
