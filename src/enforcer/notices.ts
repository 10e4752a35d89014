/**
 * What the enforcer tells the user, as notification effects: which message (its key and
 * parameters, src/i18n/messages.ts holds the texts in every language), how urgent, and until when
 * it matters. The ids are stable per (product, user, topic), so a newer notice on the same topic
 * replaces the older one on the desktop.
 */
import { render, type DenyWhat, type IdleThen, type Message } from '../i18n/messages.js';
import type { LeaseDenied } from '../protocol/v1.js';
import type { LeasedEntry, NotificationEffect, Step } from './types.js';

type Topic = 'queued' | 'denied' | 'idle' | 'renew-failing' | 'ready';

/** A notification: the message (key + parameters) and its English texts (journal, older session agents). */
function notify(s: Step, e: LeasedEntry, topic: Topic, message: Message, urgency: NotificationEffect['urgency'], relevantUntilMs?: number): void {
  const { title, body } = render(message);
  s.fx.push({
    kind: 'notify',
    user: e.user,
    uid: e.uid,
    id: `usage-agent:${e.product.id}:${e.user}:${topic}`,
    title,
    body,
    message,
    urgency,
    key: e.key,
    ...(relevantUntilMs !== undefined ? { relevantUntilMs } : {}),
  });
}

/** The administrator's deny message, when set (shown as written in every language). */
const dm = (e: LeasedEntry) => (e.product.denyMessage ? { denyMessage: e.product.denyMessage } : {});

/** Queued: paused while waiting (`suspend`), or running and told they will hear when it is ready. */
export function queuedNotice(s: Step, e: LeasedEntry, position: number): void {
  const p = e.product;
  if (p.onDeny === 'suspend') notify(s, e, 'queued', { key: 'queued.suspend', params: { product: p.name, seats: p.seats, position } }, 'normal');
  else notify(s, e, 'queued', { key: 'queued.notify', params: { product: p.name, seats: p.seats, position, ...dm(e) } }, 'normal');
}

/** Granted after a wait (queue, refusal, offline): `continues` when paused processes run again. */
export function readyNotice(s: Step, e: LeasedEntry, continues: boolean): void {
  notify(s, e, 'ready', { key: 'ready', params: { product: e.product.name, continues } }, 'normal');
}

/** The renewal that had been failing went through (replaces the warning). */
export function renewedNotice(s: Step, e: LeasedEntry): void {
  notify(s, e, 'renew-failing', { key: 'renew.ok', params: { product: e.product.name } }, 'low');
}

/** Renewals fail: what happens at `deadline` (expiry + grace) unless the server answers. */
export function renewFailingNotice(s: Step, e: LeasedEntry, deadline: number): void {
  const p = e.product;
  const message: Message = { key: 'renew.failing', params: { product: p.name, deadlineAt: deadline, onDeny: p.onDeny } };
  notify(s, e, 'renew-failing', message, p.onDeny === 'notify' ? 'normal' : 'critical', deadline);
}

/** The lease could not be renewed by expiry + grace: closed or paused now. */
export function expiredNotice(s: Step, e: LeasedEntry, how: 'terminate' | 'suspend'): void {
  notify(s, e, 'denied', { key: how === 'terminate' ? 'expired.terminate' : 'expired.suspend', params: { product: e.product.name } }, 'critical');
}

export type DenyHow =
  | { how: 'notify' }
  | { how: 'suspend' }
  | { how: 'gate' }
  | { how: 'terminate'; closeAt: number; inSeconds: number; relevantUntilMs: number };

/** Refused (`reason` offline, or the server's refusal `denied`), and what happens to the program. */
export function denyNotice(s: Step, e: LeasedEntry, reason: string, denied: LeaseDenied | undefined, then: DenyHow): void {
  const what: DenyWhat =
    reason === 'offline'
      ? 'offline'
      : denied?.reason === 'no-seats' || denied?.seats === 0
        ? 'none'
        : denied && denied.seats !== null
          ? denied.seats === 1
            ? 'one'
            : 'all'
          : 'unknown';
  const why = { product: e.product.name, what, seats: denied?.seats ?? null, ...dm(e) };
  switch (then.how) {
    case 'notify':
      return notify(s, e, 'denied', { key: 'deny.notify', params: why }, 'normal');
    case 'suspend':
      return notify(s, e, 'denied', { key: 'deny.suspend', params: why }, 'critical');
    case 'gate':
      return notify(s, e, 'denied', { key: 'deny.gate', params: why }, 'critical');
    case 'terminate': {
      const message: Message = { key: 'deny.terminate', params: { ...why, closeAt: then.closeAt, inSeconds: then.inSeconds } };
      return notify(s, e, 'denied', message, 'critical', then.relevantUntilMs);
    }
  }
}

/** The idle question: released at `deadline` unless the user uses it (`then`: what the release does). */
export function idleAskNotice(s: Step, e: LeasedEntry, idleSeconds: number, deadline: number, then: IdleThen): void {
  notify(s, e, 'idle', { key: 'idle.ask', params: { product: e.product.name, idleSeconds, deadlineAt: deadline, then } }, 'critical', deadline);
}

/** The user came back before the deadline: the license stays. */
export function idleKeptNotice(s: Step, e: LeasedEntry): void {
  notify(s, e, 'idle', { key: 'idle.kept', params: { product: e.product.name } }, 'low');
}

/** Released for idleness: paused, being closed, or kept running unlicensed. */
export function idleReleasedNotice(s: Step, e: LeasedEntry, action: 'suspend' | 'terminate' | 'release'): void {
  const key = action === 'suspend' ? 'idle.paused' : action === 'terminate' ? 'idle.closed' : 'idle.released';
  notify(s, e, 'idle', { key, params: { product: e.product.name } }, 'normal');
}

/** Granted again after an idle release: `continues` when paused processes run again. */
export function licenseBackNotice(s: Step, e: LeasedEntry, continues: boolean): void {
  notify(s, e, 'idle', { key: 'idle.back', params: { product: e.product.name, continues } }, 'normal');
}

/**
 * The journal's `notification` record of a notice: delivered now, or kept (`delivered: false`)
 * and shown `late` when the user's session agent connects.
 */
export function notificationRecord(n: NotificationEffect, host: string, time: string, delivery: { delivered: boolean; late?: true }) {
  return {
    type: 'notification',
    time,
    host,
    user: n.user,
    id: n.id,
    product: n.key.split('\u0000')[1],
    title: n.title,
    body: n.body,
    // Key and parameters: a server can show it in any language (the texts are English).
    messageKey: n.message.key,
    params: n.message.params,
    urgency: n.urgency,
    ...delivery,
  };
}
