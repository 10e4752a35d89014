/**
 * The shape of the user-facing messages (keys and parameters) and of a catalogue: the texts of
 * every message in one language. One source for every catalogue under ./catalogues/.
 */

export type DenyWhat = 'offline' | 'none' | 'one' | 'all' | 'unknown';
export type Consequence = 'notify' | 'suspend' | 'terminate';
export type IdleThen = 'notify' | 'release' | 'suspend' | 'terminate';

/** Every message and its parameters (one source for the shape). */
export interface MessageParams {
  'queued.suspend': { product: string; seats: number | null; position: number };
  'queued.notify': { product: string; seats: number | null; position: number; denyMessage?: string };
  ready: { product: string; continues: boolean };
  'idle.back': { product: string; continues: boolean };
  'renew.ok': { product: string };
  'renew.failing': { product: string; deadlineAt: number; onDeny: Consequence };
  'deny.notify': { product: string; what: DenyWhat; seats: number | null; denyMessage?: string };
  'deny.suspend': { product: string; what: DenyWhat; seats: number | null; denyMessage?: string };
  'deny.gate': { product: string; what: DenyWhat; seats: number | null; denyMessage?: string };
  'deny.terminate': { product: string; what: DenyWhat; seats: number | null; closeAt: number; inSeconds: number; denyMessage?: string };
  'expired.terminate': { product: string };
  'expired.suspend': { product: string };
  'idle.kept': { product: string };
  'idle.ask': { product: string; idleSeconds: number; deadlineAt: number; then: IdleThen };
  'idle.paused': { product: string };
  'idle.closed': { product: string };
  'idle.released': { product: string };
}
export type MessageKey = keyof MessageParams;
export type Message = { [K in MessageKey]: { key: K; params: MessageParams[K] } }[MessageKey];

export const LANGUAGES = ['en', 'ja', 'de', 'fr', 'es'] as const;
export type Language = (typeof LANGUAGES)[number];

/** Locale-aware pieces a catalogue uses. */
export interface Format {
  /** A clock time with its zone, e.g. "08:01:01 UTC". */
  time(ms: number): string;
  /** "45 s" / "2 min", in the language. */
  duration(seconds: number): string;
}

export type Texts = { title: string; body: string };
export type Catalogue = { [K in MessageKey]: (p: MessageParams[K], f: Format) => Texts };

/** An administrator's `denyMessage` after the text, as written (nothing when there is none). */
export const extra = (dm: string | undefined, sep = ' ') => (dm ? `${sep}${dm}` : '');
