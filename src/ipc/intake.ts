/**
 * What the daemon takes from a session agent, checked before it is trusted: a line as a message of
 * this protocol version, its input report, and its activity records (only the activity types and
 * fields listed here; identity always from the authenticated peer).
 */
import { IPC_VERSION, type ClientMessage, type InputInfo } from './protocol.js';

/** Activity record types a session agent may send; anything else is rejected. */
const ACCEPTED_TYPES = new Set(['break', 'work', 'input-events']);
/** Fields copied from a session agent's record; identity fields are stamped by the daemon. */
const ACCEPTED_FIELDS = [
  'application',
  'start',
  'end',
  'durationSeconds',
  'breakType',
  'periodType',
  'keyboard',
  'mouse',
  'switch',
  'mouseButtons',
  'mouseWheel',
  'mouseMoves',
  'applications',
  'endReason',
  'inputSource',
  'display',
] as const;

/** A session agent's record checked, with identity stamped from the authenticated peer (never from the record); undefined when refused. */
export function stampRecord(
  raw: unknown,
  peer: { host: string; user?: string; uid?: number },
): (Record<string, unknown> & { type: string; time: string }) | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (typeof r.type !== 'string' || !ACCEPTED_TYPES.has(r.type)) return undefined;
  if (typeof r.time !== 'string' || Number.isNaN(Date.parse(r.time))) return undefined;
  if (typeof r.start !== 'string' || typeof r.end !== 'string' || typeof r.durationSeconds !== 'number') return undefined;
  const out: Record<string, unknown> & { type: string; time: string } = {
    type: r.type,
    time: new Date(Date.parse(r.time)).toISOString(),
    host: peer.host,
    user: peer.user,
    uid: peer.uid,
  };
  for (const f of ACCEPTED_FIELDS) if (r[f] !== undefined) out[f] = r[f];
  if (JSON.stringify(out).length > 64 * 1024) return undefined;
  return out;
}

/** A line as a message of this protocol version, or why not. */
export function parseMessage(line: string): ClientMessage | string {
  let msg: ClientMessage;
  try {
    msg = JSON.parse(line) as ClientMessage;
  } catch {
    return 'not JSON';
  }
  if (typeof msg !== 'object' || msg === null || msg.v !== IPC_VERSION) return `unsupported protocol version (this daemon speaks v${IPC_VERSION})`;
  return msg;
}

/** What a session agent says about its input sources, each text cut to 200 characters. */
export function sanitizeInput(input: unknown): InputInfo | undefined {
  if (typeof input !== 'object' || input === null) return undefined;
  const i = input as Record<string, unknown>;
  const s = (v: unknown) => (typeof v === 'string' ? v.slice(0, 200) : 'unknown');
  const mode = i.mode === 'hooks' || i.mode === 'idle-poll' || i.mode === 'none' ? i.mode : 'none';
  return { mode, source: s(i.source), focus: s(i.focus), sessionEvents: s(i.sessionEvents), detail: i.detail ? s(i.detail) : undefined };
}
