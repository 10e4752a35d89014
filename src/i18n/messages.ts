/**
 * The user-facing notifications as message keys with parameters, and their texts in English,
 * Japanese, German, French and Spanish. Pure. The enforcer (daemon) builds a Message and renders it
 * in English for its journal and for session agents that predate messages; the session agent
 * renders the same Message in the session's own language and time zone. Journaled notifications
 * keep key and parameters, so a server can show them in any language.
 *
 * Parameters are plain JSON values; times are epoch milliseconds (`*At`), durations seconds.
 * An administrator's `denyMessage` is shown as written, in every language.
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

type Texts = { title: string; body: string };
type Catalogue = { [K in MessageKey]: (p: MessageParams[K], f: Format) => Texts };

const extra = (dm: string | undefined, sep = ' ') => (dm ? `${sep}${dm}` : '');

const en: Catalogue = (() => {
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

const ja: Catalogue = (() => {
  const seats = (n: number | null) => (n === null ? '' : n === 1 ? 'ただ 1 つのシートは使用中です。' : `${n} 個のシートはすべて使用中です。`);
  const what = (p: { product: string; what: DenyWhat; seats: number | null }) =>
    ({
      offline: `ライセンスサーバーに接続できず、${p.product} はライセンスなしでは実行できません。`,
      none: `${p.product} には利用できるライセンスがありません。`,
      one: `${p.product} のただ 1 つのシートは使用中です。`,
      all: `${p.product} の ${p.seats} 個のシートはすべて使用中です。`,
      unknown: `${p.product} の空いているライセンスがありません。`,
    })[p.what];
  return {
    'queued.suspend': (p) => ({
      title: `${p.product}: ライセンスの空き待ち`,
      body: `${seats(p.seats)}${p.product} は一時停止中で、待ち行列の ${p.position} 番目です。ライセンスが空きしだい自動的に再開します。`,
    }),
    'queued.notify': (p) => ({
      title: `${p.product}: 空いているライセンスがありません`,
      body: `${seats(p.seats)}待ち行列の ${p.position} 番目です。ライセンスの準備ができたらお知らせします。${extra(p.denyMessage, '')}`,
    }),
    ready: (p) => ({
      title: `${p.product}: ライセンスの準備ができました`,
      body: p.continues ? `ライセンスが空いたため、${p.product} は今すぐ再開します。` : `ライセンスが空きました。${p.product} はライセンス付きで使用できます。`,
    }),
    'idle.back': (p) => ({
      title: `${p.product}: ライセンスが戻りました`,
      body: p.continues
        ? `おかえりなさい。ライセンスが再び割り当てられ、${p.product} が再開します。`
        : `おかえりなさい。${p.product} は再びライセンス付きです。`,
    }),
    'renew.ok': (p) => ({
      title: `${p.product}: ライセンスを更新しました`,
      body: `ライセンスサーバーに再び接続できました。${p.product} はそのまま使用できます。`,
    }),
    'renew.failing': (p, f) => {
      const at = f.time(p.deadlineAt);
      const consequence = {
        notify: `${at} 以降の使用はライセンスなしとして記録されます`,
        suspend: `${at} に ${p.product} を一時停止します`,
        terminate: `${at} に ${p.product} を終了します`,
      }[p.onDeny];
      return {
        title: `${p.product}: ライセンスサーバーに接続できません`,
        body: `${p.product} のライセンスを更新できませんでした。${at} までに更新できない場合、${consequence}。${p.onDeny === 'terminate' ? '作業内容を保存してください。' : ''}`,
      };
    },
    'deny.notify': (p) => ({
      title: `${p.product}: 利用できるライセンスがありません`,
      body: `${what(p)}このまま作業を続けられますが、この使用はライセンスなしとして記録されます。${extra(p.denyMessage, '')}`,
    }),
    'deny.suspend': (p) => ({
      title: `${p.product}: ライセンスがないため一時停止しました`,
      body: `${what(p)}${p.product} は一時停止中で、ライセンスが割り当てられしだい自動的に再開します。${extra(p.denyMessage, '')}`,
    }),
    'deny.gate': (p) => ({
      title: `${p.product} は起動されませんでした`,
      body: `${what(p)}${p.product} は開く前に停止されました。${extra(p.denyMessage, '')}`,
    }),
    'deny.terminate': (p, f) => ({
      title: `${p.product} は終了されます`,
      body: `${what(p)}${p.product} は ${f.time(p.closeAt)}（${p.inSeconds} 秒後）に終了されます。今すぐ作業内容を保存してください。${extra(p.denyMessage, '')}`,
    }),
    'expired.terminate': (p) => ({ title: `${p.product} を終了しています`, body: `${p.product} のライセンスを期限内に更新できませんでした。` }),
    'expired.suspend': (p) => ({
      title: `${p.product} を一時停止しました`,
      body: `${p.product} のライセンスを期限内に更新できませんでした。ライセンスが割り当てられしだい自動的に再開します。`,
    }),
    'idle.kept': (p) => ({ title: `${p.product}: ライセンスを維持しました`, body: `おかえりなさい。${p.product} のライセンスはそのまま維持されます。` }),
    'idle.ask': (p, f) => {
      const then = {
        notify: '再度お知らせします',
        release: 'ライセンスは他の人のために解放されます',
        suspend: `ライセンスが解放され、${p.product} は一時停止されます`,
        terminate: `ライセンスが解放され、${p.product} は終了されます`,
      }[p.then];
      return {
        title: `${p.product}: まだ使用していますか？`,
        body: `${p.product} は ${f.duration(p.idleSeconds)}間、入力がありません。${f.time(p.deadlineAt)} までに使用しない場合、${then}。`,
      };
    },
    'idle.paused': (p) => ({
      title: `${p.product} を一時停止しました`,
      body: `操作がなかったためライセンスを解放しました。${p.product} を再び使うと、ライセンスを再度要求して再開します。`,
    }),
    'idle.closed': (p) => ({ title: `${p.product} を終了しました`, body: '操作がなかったためライセンスを解放しました。' }),
    'idle.released': (p) => ({
      title: `${p.product}: ライセンスを解放しました`,
      body: '操作がなかったためライセンスを解放しました。プログラムはライセンスなしで動作を続けます。再び使うとライセンスを取り戻せます。',
    }),
  };
})();

const de: Catalogue = (() => {
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

const fr: Catalogue = (() => {
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

const es: Catalogue = (() => {
  const seats = (n: number | null) => (n === null ? '' : n === 1 ? 'La única licencia está en uso. ' : `Las ${n} licencias están en uso. `);
  const what = (p: { product: string; what: DenyWhat; seats: number | null }) =>
    ({
      offline: `No se puede acceder al servidor de licencias y ${p.product} no puede ejecutarse sin licencia.`,
      none: `${p.product} no tiene licencias disponibles.`,
      one: `La única licencia de ${p.product} está en uso.`,
      all: `Las ${p.seats} licencias de ${p.product} están en uso.`,
      unknown: `No hay ninguna licencia de ${p.product} libre.`,
    })[p.what];
  return {
    'queued.suspend': (p) => ({
      title: `${p.product}: esperando una licencia`,
      body: `${seats(p.seats)}${p.product} está en pausa y usted es el número ${p.position} en la cola. Continuará por sí solo en cuanto haya una licencia libre.`,
    }),
    'queued.notify': (p) => ({
      title: `${p.product}: no hay licencias libres`,
      body: `${seats(p.seats)}Usted es el número ${p.position} en la cola; se le avisará cuando su licencia esté lista. ${p.denyMessage ?? ''}`.trim(),
    }),
    ready: (p) => ({
      title: `${p.product}: su licencia está lista`,
      body: p.continues ? `Hay una licencia libre y ${p.product} continúa ahora.` : `Hay una licencia libre; ${p.product} ya tiene licencia.`,
    }),
    'idle.back': (p) => ({
      title: `${p.product}: su licencia ha vuelto`,
      body: p.continues
        ? `Bienvenido de nuevo. Se le ha vuelto a conceder una licencia y ${p.product} continúa.`
        : `Bienvenido de nuevo. ${p.product} vuelve a tener licencia.`,
    }),
    'renew.ok': (p) => ({
      title: `${p.product}: licencia renovada`,
      body: `El servidor de licencias vuelve a estar accesible; ${p.product} sigue funcionando.`,
    }),
    'renew.failing': (p, f) => {
      const at = f.time(p.deadlineAt);
      const consequence = {
        notify: `su uso se registrará como sin licencia después de las ${at}`,
        suspend: `${p.product} se pausará a las ${at}`,
        terminate: `${p.product} se cerrará a las ${at}`,
      }[p.onDeny];
      return {
        title: `${p.product}: servidor de licencias inaccesible`,
        body: `No se pudo renovar la licencia de ${p.product}. Si no se puede renovar antes de las ${at}, ${consequence}.${p.onDeny === 'terminate' ? ' Guarde su trabajo.' : ''}`,
      };
    },
    'deny.notify': (p) => ({
      title: `${p.product}: no hay licencia disponible`,
      body: `${what(p)} Puede seguir trabajando; este uso se registra como sin licencia.${extra(p.denyMessage)}`,
    }),
    'deny.suspend': (p) => ({
      title: `${p.product}: en pausa, sin licencia`,
      body: `${what(p)} ${p.product} está en pausa y continuará por sí solo en cuanto se conceda una licencia.${extra(p.denyMessage)}`,
    }),
    'deny.gate': (p) => ({ title: `${p.product} no se ha iniciado`, body: `${what(p)} ${p.product} se detuvo antes de abrirse.${extra(p.denyMessage)}` }),
    'deny.terminate': (p, f) => ({
      title: `${p.product} se cerrará`,
      body: `${what(p)} ${p.product} se cerrará a las ${f.time(p.closeAt)} (en ${p.inSeconds} s). Guarde su trabajo ahora.${extra(p.denyMessage)}`,
    }),
    'expired.terminate': (p) => ({ title: `${p.product} se está cerrando`, body: `No se pudo renovar a tiempo la licencia de ${p.product}.` }),
    'expired.suspend': (p) => ({
      title: `${p.product} está en pausa`,
      body: `No se pudo renovar a tiempo la licencia de ${p.product}. Continuará por sí solo en cuanto se conceda una licencia.`,
    }),
    'idle.kept': (p) => ({ title: `${p.product}: licencia conservada`, body: `Bienvenido de nuevo; se conserva su licencia de ${p.product}.` }),
    'idle.ask': (p, f) => {
      const then = {
        notify: 'se le volverá a avisar',
        release: 'su licencia se liberará para otros',
        suspend: `su licencia se liberará y ${p.product} se pausará`,
        terminate: `su licencia se liberará y ${p.product} se cerrará`,
      }[p.then];
      return {
        title: `${p.product}: ¿todavía lo está usando?`,
        body: `${p.product} no ha recibido ninguna entrada en ${f.duration(p.idleSeconds)}. Si no lo usa antes de las ${f.time(p.deadlineAt)}, ${then}.`,
      };
    },
    'idle.paused': (p) => ({
      title: `${p.product} en pausa`,
      body: `Su licencia se liberó porque estaba inactivo. Vuelva a usar ${p.product} para continuar: se volverá a solicitar su licencia.`,
    }),
    'idle.closed': (p) => ({ title: `${p.product} cerrado`, body: 'Su licencia se liberó porque estaba inactivo.' }),
    'idle.released': (p) => ({
      title: `${p.product}: licencia liberada`,
      body: 'Su licencia se liberó porque estaba inactivo; el programa sigue funcionando sin licencia. Vuelva a usarlo para recuperar una licencia.',
    }),
  };
})();

const CATALOGUES: Record<Language, Catalogue> = { en, ja, de, fr, es };
const INTL_LOCALE: Record<Language, string> = { en: 'en-GB', ja: 'ja-JP', de: 'de-DE', fr: 'fr-FR', es: 'es-ES' };

/**
 * The language of a POSIX locale environment: LC_ALL, then LC_MESSAGES, then LANG (as gettext
 * looks them up); `ja_JP.UTF-8` -> ja. English when unset, `C`/`POSIX`, or not one we have.
 */
export function languageFromEnv(env: NodeJS.ProcessEnv): Language {
  const raw = env.LC_ALL || env.LC_MESSAGES || env.LANG || '';
  const lang = raw.split(/[_.@-]/)[0]!.toLowerCase();
  return (LANGUAGES as readonly string[]).includes(lang) ? (lang as Language) : 'en';
}

/** Formatters for a language and IANA time zone (undefined: the process's own zone). */
export function formatFor(language: Language, timeZone?: string): Format {
  const clock = new Intl.DateTimeFormat(INTL_LOCALE[language], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
    timeZone,
    timeZoneName: 'short',
  });
  const unit = (u: 'second' | 'minute') => new Intl.NumberFormat(INTL_LOCALE[language], { style: 'unit', unit: u, unitDisplay: 'short' });
  const sec = unit('second');
  const min = unit('minute');
  return {
    time: (ms) => clock.format(ms),
    duration:
      language === 'en'
        ? (s) => (s < 120 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`)
        : (s) => (s < 120 ? sec.format(Math.round(s)) : min.format(Math.round(s / 60))),
  };
}

/** The English texts the daemon journals and sends along (times in UTC, as before messages). */
const ENGLISH_UTC = formatFor('en', 'UTC');

/** Title and body of a message in a language (English in UTC when no language is given). */
export function render(m: Message, language: Language = 'en', format: Format = language === 'en' ? ENGLISH_UTC : formatFor(language)): Texts {
  const fn = CATALOGUES[language][m.key] as (p: unknown, f: Format) => Texts;
  return fn(m.params, format);
}

/** Whether a value received from elsewhere (the session channel) is a message this code knows. */
export function isMessage(v: unknown): v is Message {
  if (typeof v !== 'object' || v === null) return false;
  const m = v as { key?: unknown; params?: unknown };
  return (
    typeof m.key === 'string' &&
    Object.hasOwn(en, m.key) &&
    typeof m.params === 'object' &&
    m.params !== null &&
    typeof (m.params as { product?: unknown }).product === 'string'
  );
}
