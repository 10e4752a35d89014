/**
 * What the session channel (./server.ts) offers the daemon's other components: notifications to
 * users' session agents, their live activity and their comings and goings. Apart from the server
 * so the component registry (src/component) can name it without importing the server itself.
 */
import type { Message } from '../i18n/messages.js';
import type { Urgency } from './protocol.js';

/** What other daemon components use to reach users' sessions (`ctx.components.sessions`). */
export interface SessionHub {
  /** Sends a notification to every authenticated session agent of that user; false if none. */
  notifyUser(user: number | string, notification: { title: string; body: string; urgency?: Urgency; id?: string; message?: Message }): boolean;
  connectedUsers(): Array<{ uid: number; user: string; sessions: number }>;
  /** Called when a session agent reports whether it could show a notification. */
  onNotificationResult(listener: (r: { uid: number; user: string; id: string; shown: boolean; error?: string }) => void): () => void;
  /** Live "input in this application now" from a session agent (`activity`; see protocol.ts). */
  onActivity(listener: (a: { uid: number; user: string; application: string; at: number }) => void): () => void;
  /**
   * A session agent authenticated (`up`) or its connection closed (`down`; only for ones that
   * were up); `agents()` lists those up now. For logon/logoff (src/collectors/sessions).
   */
  onAgent(listener: (e: SessionAgentEvent) => void): () => void;
  agents(): SessionAgentInfo[];
}

export interface SessionAgentInfo {
  /** Connection id (unique per connection). */
  conn: string;
  uid: number;
  user: string;
  pid?: number;
  display?: string;
  /** logind session id (XDG_SESSION_ID of the agent), when it has one. */
  session?: string;
  /** Epoch ms the agent authenticated. */
  at: number;
}
export type SessionAgentEvent = ({ kind: 'up' } | { kind: 'down' }) & SessionAgentInfo;
