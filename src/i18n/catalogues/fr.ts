/** The French texts of every message. */
import { type Catalogue, type DenyWhat, extra } from '../types.js';

export const fr: Catalogue = (() => {
  const seats = (n: number | null) => (n === null ? '' : n === 1 ? 'La seule licence est utilisée. ' : `Les ${n} licences sont toutes utilisées. `);
  const what = (p: { product: string; what: DenyWhat; seats: number | null }) =>
    ({
      offline: `Le serveur de licences est injoignable et ${p.product} ne peut pas fonctionner sans licence.`,
      none: `${p.product} n'a aucune licence disponible.`,
      one: `La seule licence de ${p.product} est utilisée.`,
      all: `Les ${p.seats} licences de ${p.product} sont toutes utilisées.`,
      unknown: `Aucune licence de ${p.product} n'est libre.`,
    })[p.what];
  return {
    'queued.suspend': (p) => ({
      title: `${p.product} : en attente d'une licence`,
      body: `${seats(p.seats)}${p.product} est en pause et vous êtes numéro ${p.position} dans la file d'attente. Il reprendra de lui-même dès qu'une licence sera libre.`,
    }),
    'queued.notify': (p) => ({
      title: `${p.product} : aucune licence libre`,
      body: `${seats(p.seats)}Vous êtes numéro ${p.position} dans la file d'attente ; vous serez averti lorsque votre licence sera prête. ${p.denyMessage ?? ''}`.trim(),
    }),
    ready: (p) => ({
      title: `${p.product} : votre licence est prête`,
      body: p.continues ? `Une licence est libre et ${p.product} reprend maintenant.` : `Une licence est libre ; ${p.product} est maintenant sous licence.`,
    }),
    'idle.back': (p) => ({
      title: `${p.product} : votre licence est de retour`,
      body: p.continues
        ? `Bon retour. Une licence a de nouveau été accordée et ${p.product} reprend.`
        : `Bon retour. ${p.product} est de nouveau sous licence.`,
    }),
    'renew.ok': (p) => ({
      title: `${p.product} : licence renouvelée`,
      body: `Le serveur de licences est de nouveau joignable ; ${p.product} continue de fonctionner.`,
    }),
    'renew.failing': (p, f) => {
      const at = f.time(p.deadlineAt);
      const consequence = {
        notify: `son utilisation sera enregistrée comme sans licence après ${at}`,
        suspend: `${p.product} sera mis en pause à ${at}`,
        terminate: `${p.product} sera fermé à ${at}`,
      }[p.onDeny];
      return {
        title: `${p.product} : serveur de licences injoignable`,
        body: `La licence de ${p.product} n'a pas pu être renouvelée. Si elle ne peut pas l'être avant ${at}, ${consequence}.${p.onDeny === 'terminate' ? ' Enregistrez votre travail.' : ''}`,
      };
    },
    'deny.notify': (p) => ({
      title: `${p.product} : aucune licence disponible`,
      body: `${what(p)} Vous pouvez continuer à travailler ; cette utilisation est enregistrée comme sans licence.${extra(p.denyMessage)}`,
    }),
    'deny.suspend': (p) => ({
      title: `${p.product} : en pause, pas de licence`,
      body: `${what(p)} ${p.product} est en pause et reprendra de lui-même dès qu'une licence sera accordée.${extra(p.denyMessage)}`,
    }),
    'deny.gate': (p) => ({ title: `${p.product} n'a pas été démarré`, body: `${what(p)} ${p.product} a été arrêté avant de s'ouvrir.${extra(p.denyMessage)}` }),
    'deny.terminate': (p, f) => ({
      title: `${p.product} va être fermé`,
      body: `${what(p)} ${p.product} sera fermé à ${f.time(p.closeAt)} (dans ${p.inSeconds} s). Enregistrez votre travail maintenant.${extra(p.denyMessage)}`,
    }),
    'expired.terminate': (p) => ({ title: `${p.product} est en cours de fermeture`, body: `La licence de ${p.product} n'a pas pu être renouvelée à temps.` }),
    'expired.suspend': (p) => ({
      title: `${p.product} est en pause`,
      body: `La licence de ${p.product} n'a pas pu être renouvelée à temps. Il reprendra de lui-même dès qu'une licence sera accordée.`,
    }),
    'idle.kept': (p) => ({ title: `${p.product} : licence conservée`, body: `Bon retour ; votre licence ${p.product} est conservée.` }),
    'idle.ask': (p, f) => {
      const then = {
        notify: 'vous recevrez un rappel',
        release: "sa licence sera libérée pour d'autres",
        suspend: `sa licence sera libérée et ${p.product} mis en pause`,
        terminate: `sa licence sera libérée et ${p.product} fermé`,
      }[p.then];
      return {
        title: `${p.product} : l'utilisez-vous encore ?`,
        body: `${p.product} n'a reçu aucune saisie depuis ${f.duration(p.idleSeconds)}. Si vous ne l'utilisez pas avant ${f.time(p.deadlineAt)}, ${then}.`,
      };
    },
    'idle.paused': (p) => ({
      title: `${p.product} en pause`,
      body: `Sa licence a été libérée car il était inactif. Utilisez à nouveau ${p.product} pour continuer : sa licence sera demandée à nouveau.`,
    }),
    'idle.closed': (p) => ({ title: `${p.product} fermé`, body: 'Sa licence a été libérée car il était inactif.' }),
    'idle.released': (p) => ({
      title: `${p.product} : licence libérée`,
      body: 'Sa licence a été libérée car il était inactif ; le programme continue sans licence. Utilisez-le à nouveau pour récupérer une licence.',
    }),
  };
})();
