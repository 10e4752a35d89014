/**
 * Child for the kill -9 test: journals numbered records (n continues from a cursor committed with
 * them, so n == seq exactly) while the real uplink uploads them. argv: dataDir serverUrl total
 * Prints "drained <lastSeq>" once `total` records exist and all are acknowledged.
 */
import { join } from 'node:path';
import { Journal } from '../../src/journal/journal.js';
import { UplinkClient } from '../../src/uplink/client.js';
import { Uploader } from '../../src/uplink/uploader.js';
import { TEST_ENROLL_SECRET } from '../helpers/server.js';

const [dataDir, url, totalArg] = process.argv.slice(2) as [string, string, string];
const total = Number(totalArg);
const journal = Journal.open(join(dataDir, 'journal.db'), { flushIntervalMs: 20 });
const client = new UplinkClient({
  url,
  enrollSecret: TEST_ENROLL_SECRET,
  requestTimeoutMs: 2000,
  dataDir,
  hostname: 'ws-crash',
  nextSeq: () => journal.ackedThroughSeq() + 1,
});
const up = new Uploader(journal, client, { batchSize: 50, intervalMs: 10, maxBackoffMs: 100, baseBackoffMs: 10, hostname: 'ws-crash' });
up.start();
let n = journal.getCursor<number>('test.n') ?? 0;
const timer = setInterval(() => {
  for (let i = 0; i < 40 && n < total; i++) {
    n += 1;
    journal.append({ type: 'test-rec', time: new Date().toISOString(), n });
    journal.setCursor('test.n', n);
  }
  if (n >= total) {
    clearInterval(timer);
    journal.flush();
    void up.drained(60_000).then((ok) => {
      process.stdout.write(`${ok ? 'drained' : 'not-drained'} ${journal.lastSeq()}\n`);
    });
  }
}, 5);
