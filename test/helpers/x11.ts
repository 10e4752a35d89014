import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { waitFor } from './wait.js';

export interface XServer {
  display: string;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/** Kills a child and waits for it (by its own pid only). */
export async function killChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/**
 * Starts Xvfb on a free display number: Xvfb picks it itself and writes it to -displayfd, so
 * parallel test runs never collide. With `wm`, openbox runs too (it maintains _NET_ACTIVE_WINDOW
 * like a desktop's window manager does).
 */
export async function startXvfb(options: { wm?: boolean } = {}): Promise<XServer> {
  const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1024x768x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  const display = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`Xvfb did not report a display: ${err}`)), 15_000);
    xvfb.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    (xvfb.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(`:${out.trim()}`);
      }
    });
    xvfb.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited with ${code}: ${err}`));
    });
  });
  const env: NodeJS.ProcessEnv = { ...process.env, DISPLAY: display };
  delete env.WAYLAND_DISPLAY;
  delete env.XAUTHORITY;
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const c of children.reverse()) await killChild(c);
    await killChild(xvfb);
  };
  try {
    if (!existsSync(`/tmp/.X11-unix/X${display.slice(1)}`)) throw new Error(`no socket for ${display}`);
    if (options.wm) {
      const wm = spawn('openbox', ['--sm-disable'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      children.push(wm);
      let wmErr = '';
      wm.stderr!.on('data', (d: Buffer) => (wmErr += d.toString()));
      // Ready once it advertises itself as an EWMH window manager (a loaded machine can take a while).
      await waitFor(
        () => spawnSync('xprop', ['-root', '_NET_SUPPORTING_WM_CHECK'], { env, encoding: 'utf8' }).stdout.includes('window id'),
        'an EWMH window manager',
        30_000,
      ).catch((err: Error) => {
        throw new Error(
          `openbox on ${display} did not come up (${wm.exitCode === null ? 'still running' : `exited with ${wm.exitCode}`}): ${err.message}; openbox said: ${wmErr.slice(-2000)}`,
        );
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { display, env, stop };
}

/** Starts an X client (xlogo, xmessage, ...) and waits until it has a mapped window; returns its window id. */
export async function startXClient(server: XServer, cmd: string, args: string[], name: string): Promise<{ child: ChildProcess; window: string }> {
  const child = spawn(cmd, args, { env: server.env, stdio: 'ignore' });
  let window = '';
  try {
    await waitFor(
      () => {
        // Xt clients (xlogo, xmessage) do not set _NET_WM_PID, so search by class name.
        const r = spawnSync('xdotool', ['search', '--class', name], { env: server.env, encoding: 'utf8' });
        window = r.stdout.trim().split('\n')[0] ?? '';
        return window !== '';
      },
      `a window of class ${name}`,
      10_000,
    );
  } catch (err) {
    await killChild(child);
    throw new Error(`${name} never mapped a window: ${(err as Error).message}`);
  }
  return { child, window };
}

export function xdotool(server: XServer, ...args: string[]): void {
  const r = spawnSync('xdotool', args, { env: server.env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`xdotool ${args.join(' ')} failed: ${r.stderr}`);
}

/** The window the window manager reports active (_NET_ACTIVE_WINDOW), as a decimal id. */
export function activeWindow(server: XServer): string {
  const out = spawnSync('xprop', ['-root', '_NET_ACTIVE_WINDOW'], { env: server.env, encoding: 'utf8' }).stdout;
  const m = /window id # (0x[0-9a-f]+)/i.exec(out);
  return m ? String(Number.parseInt(m[1]!, 16)) : '';
}

/**
 * Activates a window and waits until the window manager has settled on it (a client mapped just
 * before may still be handed the focus by the WM a moment later; activation is retried then).
 */
export async function activate(server: XServer, window: string): Promise<void> {
  let stableSince = 0;
  await waitFor(
    () => {
      if (activeWindow(server) !== window) {
        xdotool(server, 'windowactivate', '--sync', window);
        stableSince = 0;
        return false;
      }
      stableSince ||= Date.now();
      return Date.now() - stableSince >= 500;
    },
    `window ${window} to stay active`,
    10_000,
  );
}
