import { spawn, type ChildProcess } from 'node:child_process';
import { waitFor } from './wait.js';

export type CounterSource = 'uiohook-binding' | 'uiohook-emitter' | 'xinput2';
export type Counts = { keyboard: number; button: number; wheel: number; move: number };

/**
 * A child process that counts what one of the session agent's input sources reports, by category
 * (uiohook keeps an Xlib connection open for the life of the process, and Xlib exits the process
 * when that X server goes away, so the sources run outside the test process). `counts()` asks it
 * (SIGUSR2); a batched source hands over what the server has sent first (drain).
 */
export function inputCounter(
  env: NodeJS.ProcessEnv,
  source: CounterSource,
): { child: ChildProcess; ready: Promise<void>; counts: () => Promise<Counts & { reads?: number }> } {
  const sourcesUrl = new URL('../../src/session/sources.js', import.meta.url).href;
  const xinput2Url = new URL('../../src/session/xinput2.js', import.meta.url).href;
  const make =
    source === 'xinput2'
      ? `const { XInput2InputSource } = await import(${JSON.stringify(xinput2Url)}); const source = new XInput2InputSource(process.env.DISPLAY);`
      : `const { HookInputSource } = await import(${JSON.stringify(sourcesUrl)}); const source = new HookInputSource(${JSON.stringify(source === 'uiohook-binding' ? 'binding' : 'emitter')});`;
  const code =
    make +
    `const counts = { keyboard: 0, button: 0, wheel: 0, move: 0 };` +
    `await source.start((c) => { counts[c] += 1; });` +
    `process.stdout.write('ready\\n');` +
    `process.on('SIGUSR2', async () => { await source.drain?.(); process.stdout.write(JSON.stringify({ ...counts, reads: source.reads }) + '\\n'); });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const ready = waitFor(() => out.includes('ready\n'), 'the input counter to be ready', 15_000).then(() => undefined);
  const counts = async () => {
    const had = out.length;
    child.kill('SIGUSR2');
    await waitFor(() => out.slice(had).includes('}\n'), 'the counts', 10_000);
    return JSON.parse(
      out
        .slice(had)
        .split('\n')
        .find((l) => l.startsWith('{'))!,
    ) as Counts & { reads?: number };
  };
  return { child, ready, counts };
}

/**
 * Waits until every counter reports `expected` (input reaches them asynchronously: RECORD -> hook
 * thread -> main thread, or the X socket read in batches) and returns their last reports; fails
 * with all reports when they do not converge.
 */
export async function countsSettle(
  counters: Array<{ name: string; counts: () => Promise<Counts & { reads?: number }> }>,
  expected: Counts,
  timeoutMs = 15_000,
) {
  const last = new Map<string, Counts & { reads?: number }>();
  const same = (c: Counts) => c.keyboard === expected.keyboard && c.button === expected.button && c.wheel === expected.wheel && c.move === expected.move;
  try {
    await waitFor(
      async () => {
        for (const c of counters) last.set(c.name, await c.counts());
        return [...last.values()].every(same);
      },
      'every counter to report the input',
      timeoutMs,
      { stepMs: 250 },
    );
  } catch (err) {
    // Counts that did not converge are reported by the caller's assertions; a counter that never
    // answered is an error here.
    const silent = counters.filter((c) => !last.has(c.name)).map((c) => c.name);
    if (silent.length > 0) throw new Error(`no counts from ${silent.join(', ')}: ${(err as Error).message}`);
  }
  return last;
}
