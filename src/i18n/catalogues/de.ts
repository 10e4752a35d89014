/** The German texts of every message. */
import { type Catalogue, type DenyWhat, extra } from '../types.js';

export const de: Catalogue = (() => {
  const seats = (n: number | null) => (n === null ? '' : n === 1 ? 'Der einzige Platz ist belegt. ' : `Alle ${n} Plätze sind belegt. `);
  const what = (p: { product: string; what: DenyWhat; seats: number | null }) =>
    ({
      offline: `Der Lizenzserver ist nicht erreichbar, und ${p.product} darf ohne Lizenz nicht laufen.`,
      none: `Für ${p.product} sind keine Lizenzen verfügbar.`,
      one: `Der einzige Platz von ${p.product} ist belegt.`,
      all: `Alle ${p.seats} Plätze von ${p.product} sind belegt.`,
      unknown: `Keine Lizenz von ${p.product} ist frei.`,
    })[p.what];
  return {
    'queued.suspend': (p) => ({
      title: `${p.product}: Warten auf eine Lizenz`,
      body: `${seats(p.seats)}${p.product} ist angehalten, und Sie sind Nummer ${p.position} in der Warteschlange. Es läuft von selbst weiter, sobald eine Lizenz frei ist.`,
    }),
    'queued.notify': (p) => ({
      title: `${p.product}: keine Lizenz frei`,
      body: `${seats(p.seats)}Sie sind Nummer ${p.position} in der Warteschlange; Sie werden benachrichtigt, sobald Ihre Lizenz bereit ist. ${p.denyMessage ?? ''}`.trim(),
    }),
    ready: (p) => ({
      title: `${p.product}: Ihre Lizenz ist bereit`,
      body: p.continues ? `Eine Lizenz ist frei, und ${p.product} läuft jetzt weiter.` : `Eine Lizenz ist frei; ${p.product} ist jetzt lizenziert.`,
    }),
    'idle.back': (p) => ({
      title: `${p.product}: Ihre Lizenz ist zurück`,
      body: p.continues
        ? `Willkommen zurück. Eine Lizenz wurde erneut erteilt, und ${p.product} läuft weiter.`
        : `Willkommen zurück. ${p.product} ist wieder lizenziert.`,
    }),
    'renew.ok': (p) => ({ title: `${p.product}: Lizenz erneuert`, body: `Der Lizenzserver ist wieder erreichbar; ${p.product} läuft weiter.` }),
    'renew.failing': (p, f) => {
      const at = f.time(p.deadlineAt);
      const consequence = {
        notify: `wird die Nutzung ab ${at} als unlizenziert erfasst`,
        suspend: `wird ${p.product} um ${at} angehalten`,
        terminate: `wird ${p.product} um ${at} beendet`,
      }[p.onDeny];
      return {
        title: `${p.product}: Lizenzserver nicht erreichbar`,
        body: `Die Lizenz von ${p.product} konnte nicht erneuert werden. Wenn sie bis ${at} nicht erneuert werden kann, ${consequence}.${p.onDeny === 'terminate' ? ' Speichern Sie Ihre Arbeit.' : ''}`,
      };
    },
    'deny.notify': (p) => ({
      title: `${p.product}: keine Lizenz verfügbar`,
      body: `${what(p)} Sie können weiterarbeiten; diese Nutzung wird als unlizenziert erfasst.${extra(p.denyMessage)}`,
    }),
    'deny.suspend': (p) => ({
      title: `${p.product}: angehalten, keine Lizenz`,
      body: `${what(p)} ${p.product} ist angehalten und läuft von selbst weiter, sobald eine Lizenz erteilt wird.${extra(p.denyMessage)}`,
    }),
    'deny.gate': (p) => ({
      title: `${p.product} wurde nicht gestartet`,
      body: `${what(p)} ${p.product} wurde angehalten, bevor es sich öffnete.${extra(p.denyMessage)}`,
    }),
    'deny.terminate': (p, f) => ({
      title: `${p.product} wird beendet`,
      body: `${what(p)} ${p.product} wird um ${f.time(p.closeAt)} beendet (in ${p.inSeconds} s). Speichern Sie jetzt Ihre Arbeit.${extra(p.denyMessage)}`,
    }),
    'expired.terminate': (p) => ({ title: `${p.product} wird beendet`, body: `Die Lizenz von ${p.product} konnte nicht rechtzeitig erneuert werden.` }),
    'expired.suspend': (p) => ({
      title: `${p.product} ist angehalten`,
      body: `Die Lizenz von ${p.product} konnte nicht rechtzeitig erneuert werden. Es läuft von selbst weiter, sobald eine Lizenz erteilt wird.`,
    }),
    'idle.kept': (p) => ({ title: `${p.product}: Lizenz behalten`, body: `Willkommen zurück; Ihre Lizenz für ${p.product} bleibt erhalten.` }),
    'idle.ask': (p, f) => {
      const then = {
        notify: 'werden Sie erneut erinnert',
        release: 'wird seine Lizenz für andere freigegeben',
        suspend: `wird seine Lizenz freigegeben und ${p.product} angehalten`,
        terminate: `wird seine Lizenz freigegeben und ${p.product} beendet`,
      }[p.then];
      return {
        title: `${p.product}: Verwenden Sie es noch?`,
        body: `${p.product} hatte seit ${f.duration(p.idleSeconds)} keine Eingabe. Wenn Sie es nicht vor ${f.time(p.deadlineAt)} verwenden, ${then}.`,
      };
    },
    'idle.paused': (p) => ({
      title: `${p.product} angehalten`,
      body: `Seine Lizenz wurde freigegeben, weil es inaktiv war. Verwenden Sie ${p.product} wieder, um fortzufahren: Die Lizenz wird erneut angefordert.`,
    }),
    'idle.closed': (p) => ({ title: `${p.product} beendet`, body: 'Seine Lizenz wurde freigegeben, weil es inaktiv war.' }),
    'idle.released': (p) => ({
      title: `${p.product}: Lizenz freigegeben`,
      body: 'Seine Lizenz wurde freigegeben, weil es inaktiv war; das Programm läuft unlizenziert weiter. Verwenden Sie es wieder, um eine Lizenz zurückzubekommen.',
    }),
  };
})();
