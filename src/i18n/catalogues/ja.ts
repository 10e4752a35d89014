/** The Japanese texts of every message. */
import { type Catalogue, type DenyWhat, extra } from '../types.js';

export const ja: Catalogue = (() => {
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
