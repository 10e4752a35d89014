/**
 * Child process for the crash tests: appends numbered records to a journal as fast as it can,
 * resuming after the last committed number, and stores that number as a cursor in the same
 * transaction. The parent kills it with SIGKILL at arbitrary moments.
 */
import { Journal } from '../../src/journal/journal.js';

const [path, flushMs] = process.argv.slice(2);
const journal = Journal.open(path!, { flushIntervalMs: Number(flushMs ?? 20) });
let n = journal.getCursor<number>('writer') ?? 0;
process.stdout.write('ready\n');
const burst = () => {
  for (let i = 0; i < 200; i++) {
    n += 1;
    journal.append({ type: 'test', time: new Date().toISOString(), n, padding: 'x'.repeat(200) });
    journal.setCursor('writer', n);
  }
  setImmediate(burst);
};
burst();
