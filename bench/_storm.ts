/**
 * Paced synthetic mouse-move generator for bench/activity.ts (not a benchmark itself: run.ts skips
 * files starting with `_`). XTEST FakeInput over one X connection, RATE moves per second with
 * catch-up pacing (xdotool's `sleep` cannot hold 200/s on a loaded machine). Prints the number of
 * moves sent when it receives SIGTERM.
 *   node _storm.js RATE SECONDS
 */
const rate = Number(process.argv[2] ?? 200);
const seconds = Number(process.argv[3] ?? 30);
const x11 = ((await import('x11')) as { default: any }).default;
const d: any = await new Promise((resolve, reject) =>
  x11.createClient({ display: process.env.DISPLAY }, (err: Error | null, dpy: unknown) => (err ? reject(err) : resolve(dpy))),
);
const X = d.client;
const root: number = d.screen[0].root;
const xt: any = await new Promise((resolve, reject) => X.require('xtest', (err: Error | null, ext: unknown) => (err ? reject(err) : resolve(ext))));
let sent = 0;
const t0 = performance.now();
const end = t0 + seconds * 1000;
const done = () => {
  process.stdout.write(`${JSON.stringify({ sent, seconds: (performance.now() - t0) / 1000 })}\n`);
  X.terminate();
  process.exit(0);
};
process.on('SIGTERM', done);
const tick = () => {
  const now = performance.now();
  const due = Math.min(Math.floor(((now - t0) * rate) / 1000), Math.floor(seconds * rate));
  while (sent < due) {
    sent += 1;
    xt.FakeInput(xt.MotionNotify, 0, 0, root, 100 + (sent % 400), 100 + ((sent * 7) % 300));
  }
  if (now >= end) return done();
  setTimeout(tick, 5);
};
tick();
