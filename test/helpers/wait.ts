/** The suite's one way to wait for something that happens in another process or on a timer. */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Between two probes (default 50 ms). */
  stepMs?: number;
  /** Appended to the timeout's message: what the parts saw, for diagnosis. */
  detail?: () => string;
}

/**
 * Calls `probe` until it returns a truthy value and returns that value; after `timeoutMs` throws
 * "timed out waiting for WHAT" (and the detail). A probe that throws ends the wait with its error.
 */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 20_000,
  o: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${o.detail ? `; ${o.detail()}` : ''}`);
    await sleep(o.stepMs ?? 50);
  }
}
