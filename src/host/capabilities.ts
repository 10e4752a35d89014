/**
 * Which Linux capabilities this process holds (effective set, /proc/self/status CapEff). The daemon
 * asks for a capability, not for uid 0: installed, it runs as its own system user with just the
 * capabilities its unit grants (ambient), and root is only the development case.
 */
import { readFileSync } from 'node:fs';

/** The capabilities the daemon uses, by number (linux/capability.h). */
export const CAPABILITIES = {
  CAP_CHOWN: 0,
  CAP_DAC_READ_SEARCH: 2,
  CAP_KILL: 5,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
} as const;
export type Capability = keyof typeof CAPABILITIES;

/** The capabilities of CAPABILITIES set in a CapEff hex mask. Pure; exported for tests. */
export function parseCapEff(statusText: string): Set<Capability> {
  const m = /^CapEff:\s*([0-9a-f]+)\s*$/im.exec(statusText);
  const out = new Set<Capability>();
  if (!m) return out;
  const mask = BigInt(`0x${m[1]}`);
  for (const [name, bit] of Object.entries(CAPABILITIES) as Array<[Capability, number]>) if ((mask >> BigInt(bit)) & 1n) out.add(name);
  return out;
}

let cached: Set<Capability> | undefined;

/** Whether this process may use `cap` now. Off Linux: whether it runs as root (uid 0). */
export function hasCapability(cap: Capability): boolean {
  if (process.platform !== 'linux') return process.getuid?.() === 0;
  cached ??= readCaps();
  return cached.has(cap);
}

function readCaps(): Set<Capability> {
  try {
    return parseCapEff(readFileSync('/proc/self/status', 'utf8'));
  } catch {
    return new Set(process.getuid?.() === 0 ? (Object.keys(CAPABILITIES) as Capability[]) : []);
  }
}
