/** The English texts of every message. */
import { type Catalogue, type DenyWhat, extra } from '../types.js';

export const en: Catalogue = (() => {
  const seats = (n: number | null) => (n === null ? '' : n === 1 ? 'The only seat is in use. ' : `All ${n} seats are in use. `);
  const what = (p: { product: string; what: DenyWhat; seats: number | null }) =>
    ({
      offline: `The license server cannot be reached and ${p.product} may not run without a license.`,
      none: `${p.product} has no licenses available.`,
      one: `The only seat of ${p.product} is in use.`,
      all: `All ${p.seats} seats of ${p.product} are in use.`,
      unknown: `No license of ${p.product} is free.`,
    })[p.what];
  return {
    'queued.suspend': (p) => ({
      title: `${p.product}: waiting for a license`,
      body: `${seats(p.seats)}${p.product} is paused and you are number ${p.position} in the queue. It continues by itself as soon as a license is free.`,
    }),
    'queued.notify': (p) => ({
      title: `${p.product}: no license free`,
      body: `${seats(p.seats)}You are number ${p.position} in the queue; you will be told when your license is ready. ${p.denyMessage ?? ''}`.trim(),
    }),
    ready: (p) => ({
      title: `${p.product}: your license is ready`,
      body: p.continues ? `A license is free and ${p.product} continues now.` : `A license is free; ${p.product} is licensed now.`,
    }),
    'idle.back': (p) => ({
      title: `${p.product}: your license is back`,
      body: p.continues ? `Welcome back. A license was granted again and ${p.product} continues.` : `Welcome back. ${p.product} is licensed again.`,
    }),
    'renew.ok': (p) => ({ title: `${p.product}: license renewed`, body: `The license server is reachable again; ${p.product} keeps running.` }),
    'renew.failing': (p, f) => {
      const at = f.time(p.deadlineAt);
      const consequence = {
        notify: `its use will be recorded as unlicensed after ${at}`,
        suspend: `${p.product} will be paused at ${at}`,
        terminate: `${p.product} will be closed at ${at}`,
      }[p.onDeny];
      return {
        title: `${p.product}: license server unreachable`,
        body: `The license of ${p.product} could not be renewed. If it cannot be renewed by ${at}, ${consequence}.${p.onDeny === 'terminate' ? ' Save your work.' : ''}`,
      };
    },
    'deny.notify': (p) => ({
      title: `${p.product}: no license available`,
      body: `${what(p)} You may keep working; this use is recorded as unlicensed.${extra(p.denyMessage)}`,
    }),
    'deny.suspend': (p) => ({
      title: `${p.product}: paused, no license`,
      body: `${what(p)} ${p.product} is paused and continues by itself as soon as a license is granted.${extra(p.denyMessage)}`,
    }),
    'deny.gate': (p) => ({ title: `${p.product} was not started`, body: `${what(p)} ${p.product} was stopped before it opened.${extra(p.denyMessage)}` }),
    'deny.terminate': (p, f) => ({
      title: `${p.product} will be closed`,
      body: `${what(p)} ${p.product} will be closed at ${f.time(p.closeAt)} (in ${p.inSeconds} s). Save your work now.${extra(p.denyMessage)}`,
    }),
    'expired.terminate': (p) => ({ title: `${p.product} is being closed`, body: `The license of ${p.product} could not be renewed in time.` }),
    'expired.suspend': (p) => ({
      title: `${p.product} is paused`,
      body: `The license of ${p.product} could not be renewed in time. It continues by itself as soon as a license is granted.`,
    }),
    'idle.kept': (p) => ({ title: `${p.product}: license kept`, body: `Welcome back; your ${p.product} license is kept.` }),
    'idle.ask': (p, f) => {
      const then = {
        notify: 'you will be reminded',
        release: 'its license will be released for others',
        suspend: `its license will be released and ${p.product} paused`,
        terminate: `its license will be released and ${p.product} closed`,
      }[p.then];
      return {
        title: `${p.product}: are you still using it?`,
        body: `${p.product} has had no input for ${f.duration(p.idleSeconds)}. Unless you use it before ${f.time(p.deadlineAt)}, ${then}.`,
      };
    },
    'idle.paused': (p) => ({
      title: `${p.product} paused`,
      body: `Its license was released because it was idle. Use ${p.product} again to continue: its license is requested again.`,
    }),
    'idle.closed': (p) => ({ title: `${p.product} closed`, body: 'Its license was released because it was idle.' }),
    'idle.released': (p) => ({
      title: `${p.product}: license released`,
      body: 'Its license was released because it was idle; the program keeps running unlicensed. Use it again to get a license back.',
    }),
  };
})();
