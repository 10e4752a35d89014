/**
 * The local channel between session agents and the daemon: newline-delimited JSON over a Unix
 * domain socket, every message carrying `v` (protocol version) and `kind`. See README.md.
 */
import { dirname, join } from 'node:path';
import type { Message } from '../i18n/messages.js';

export const IPC_VERSION = 1;
/** A line longer than this is a protocol violation (bounded memory per connection). */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Records per `records` message. */
export const MAX_BATCH = 500;

export type Urgency = 'low' | 'normal' | 'critical';

export interface Notification {
  id: string;
  /** English texts (what a session agent without the message's key shows). */
  title: string;
  body: string;
  urgency: Urgency;
  /** The same as a message key + parameters: the session agent shows it in the session's language. */
  message?: Message;
}

export interface InputInfo {
  /** `hooks`: counted keyboard/mouse events (XInput2 raw events or uiohook); `idle-poll`: OS idle time only (no keyboard/mouse split). */
  mode: 'hooks' | 'idle-poll' | 'none';
  source: string;
  focus: string;
  sessionEvents: string;
  detail?: string;
}

/**
 * Optional messages a daemon accepts, announced in `welcome.features` (an older daemon announces
 * none, and a client sends them only when announced: an unknown kind would end the connection).
 * `activity`: "input in this application now", sent at the first input after a pause of
 * ACTIVITY_GAP_MS or in a newly focused application; no counts, no key codes, no coordinates.
 */
export const FEATURE_ACTIVITY = 'activity';
export const ACTIVITY_GAP_MS = 5000;

export type ClientMessage =
  /** `session`: the logind session id (XDG_SESSION_ID) the agent runs in, when there is one. */
  | { v: number; kind: 'hello'; uid: number; pid: number; queueId: string; input: InputInfo; display?: string; session?: string }
  | { v: number; kind: 'auth'; token: string }
  | { v: number; kind: 'records'; items: Array<{ id: number; record: Record<string, unknown> }> }
  | { v: number; kind: 'status'; input: InputInfo }
  | { v: number; kind: 'notified'; id: string; shown: boolean; error?: string }
  | { v: number; kind: 'activity'; application: string };

export type DaemonMessage =
  | { v: number; kind: 'challenge'; tokenPath: string }
  | { v: number; kind: 'welcome'; uid: number; user: string; ackedThrough: number; features?: string[] }
  | { v: number; kind: 'ack'; through: number; accepted: number; duplicates: number; rejected: number }
  | ({ v: number; kind: 'notification' } & Notification)
  | { v: number; kind: 'error'; message: string };

/** Per-uid token files live beside the socket: <socketDir>/tokens/<uid>. */
export function tokenDir(socketPath: string): string {
  return join(dirname(socketPath), 'tokens');
}

export function tokenPath(socketPath: string, uid: number): string {
  return join(tokenDir(socketPath), String(uid));
}

/** Splits a byte stream into lines; calls onLine for each, onOverflow when a line is too long. */
export function lineReader(onLine: (line: string) => void, onOverflow: () => void): (chunk: Buffer) => void {
  let pending = '';
  return (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.trim()) onLine(line);
    }
    if (pending.length > MAX_LINE_BYTES) {
      pending = '';
      onOverflow();
    }
  };
}
