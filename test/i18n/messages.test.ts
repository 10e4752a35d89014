import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFor, isMessage, LANGUAGES, languageFromEnv, render, type Message } from '../../src/i18n/messages.js';

const AT = Date.parse('2024-05-01T08:01:01.000Z');

/** One of every message, with every variant of its parameters. */
const ALL: Message[] = [
  { key: 'queued.suspend', params: { product: 'CAD Pro', seats: 2, position: 1 } },
  { key: 'queued.suspend', params: { product: 'CAD Pro', seats: null, position: 3 } },
  { key: 'queued.notify', params: { product: 'CAD Pro', seats: 1, position: 2, denyMessage: 'Call IT at 1234.' } },
  { key: 'ready', params: { product: 'CAD Pro', continues: true } },
  { key: 'ready', params: { product: 'CAD Pro', continues: false } },
  { key: 'idle.back', params: { product: 'CAD Pro', continues: true } },
  { key: 'renew.ok', params: { product: 'CAD Pro' } },
  ...(['notify', 'suspend', 'terminate'] as const).map((onDeny): Message => ({ key: 'renew.failing', params: { product: 'CAD Pro', deadlineAt: AT, onDeny } })),
  ...(['offline', 'none', 'one', 'all', 'unknown'] as const).map((what): Message => ({ key: 'deny.notify', params: { product: 'CAD Pro', what, seats: 5 } })),
  { key: 'deny.suspend', params: { product: 'CAD Pro', what: 'offline', seats: null } },
  { key: 'deny.gate', params: { product: 'CAD Pro', what: 'all', seats: 2, denyMessage: 'Call IT at 1234.' } },
  { key: 'deny.terminate', params: { product: 'CAD Pro', what: 'all', seats: 2, closeAt: AT, inSeconds: 60 } },
  { key: 'expired.terminate', params: { product: 'CAD Pro' } },
  { key: 'expired.suspend', params: { product: 'CAD Pro' } },
  { key: 'idle.kept', params: { product: 'CAD Pro' } },
  ...(['notify', 'release', 'suspend', 'terminate'] as const).map(
    (then): Message => ({ key: 'idle.ask', params: { product: 'CAD Pro', idleSeconds: 1800, deadlineAt: AT, then } }),
  ),
  { key: 'idle.paused', params: { product: 'CAD Pro' } },
  { key: 'idle.closed', params: { product: 'CAD Pro' } },
  { key: 'idle.released', params: { product: 'CAD Pro' } },
];

test('the language comes from LC_ALL, then LC_MESSAGES, then LANG; English otherwise', () => {
  assert.equal(languageFromEnv({ LANG: 'ja_JP.UTF-8' }), 'ja');
  assert.equal(languageFromEnv({ LANG: 'de_DE.UTF-8', LC_MESSAGES: 'fr_FR.UTF-8' }), 'fr');
  assert.equal(languageFromEnv({ LC_ALL: 'es_ES.UTF-8', LC_MESSAGES: 'fr_FR.UTF-8', LANG: 'de_DE' }), 'es');
  assert.equal(languageFromEnv({ LANG: 'de' }), 'de');
  assert.equal(languageFromEnv({ LANG: 'C.UTF-8' }), 'en');
  assert.equal(languageFromEnv({ LANG: 'pt_BR.UTF-8' }), 'en');
  assert.equal(languageFromEnv({}), 'en');
});

test('every message renders in every language: product named, times in the zone, no English left in the others, no placeholders', () => {
  for (const language of LANGUAGES) {
    const f = formatFor(language, 'Asia/Tokyo');
    for (const m of ALL) {
      const { title, body } = render(m, language, f);
      const where = `${language} ${m.key} ${JSON.stringify(m.params)}`;
      assert.ok(title.includes('CAD Pro') || body.includes('CAD Pro'), `${where}: names the product`);
      assert.doesNotMatch(title + body, /undefined|null|NaN|\$\{|\[object/, where);
      if ('deadlineAt' in m.params || 'closeAt' in m.params) assert.match(body, /17:01:01/, `${where}: the time in Tokyo`);
      if ('denyMessage' in m.params) assert.ok(body.includes('Call IT at 1234.'), `${where}: the administrator's message as written`);
      if (language !== 'en') {
        const english = render(m, 'en', formatFor('en', 'Asia/Tokyo'));
        assert.notEqual(body, english.body, `${where}: translated`);
        assert.notEqual(title, english.title, `${where}: title translated`);
      }
    }
  }
});

test("English in UTC is the daemon's text; Japanese, German, French and Spanish read as written", () => {
  const deny: Message = { key: 'deny.terminate', params: { product: 'CAD Pro', what: 'all', seats: 2, closeAt: AT, inSeconds: 60 } };
  assert.deepEqual(render(deny), {
    title: 'CAD Pro will be closed',
    body: 'All 2 seats of CAD Pro are in use. CAD Pro will be closed at 08:01:01 UTC (in 60 s). Save your work now.',
  });
  const tokyo = (l: (typeof LANGUAGES)[number]) => render(deny, l, formatFor(l, 'Asia/Tokyo'));
  assert.deepEqual(tokyo('ja'), {
    title: 'CAD Pro は終了されます',
    body: 'CAD Pro の 2 個のシートはすべて使用中です。CAD Pro は 17:01:01 JST（60 秒後）に終了されます。今すぐ作業内容を保存してください。',
  });
  assert.equal(tokyo('de').title, 'CAD Pro wird beendet');
  assert.equal(tokyo('fr').title, 'CAD Pro va être fermé');
  assert.equal(tokyo('es').title, 'CAD Pro se cerrará');
  const ask: Message = { key: 'idle.ask', params: { product: 'CAD Pro', idleSeconds: 1800, deadlineAt: AT, then: 'release' } };
  assert.equal(render(ask).body, 'CAD Pro has had no input for 30 min. Unless you use it before 08:01:01 UTC, its license will be released for others.');
  assert.equal(
    render(ask, 'ja', formatFor('ja', 'UTC')).body,
    'CAD Pro は 30 分間、入力がありません。08:01:01 UTC までに使用しない場合、ライセンスは他の人のために解放されます。',
  );
});

test('messages from the session channel are checked before use', () => {
  assert.equal(isMessage({ key: 'deny.notify', params: { product: 'CAD Pro', what: 'none', seats: 0 } }), true);
  assert.equal(isMessage({ key: 'no.such.key', params: { product: 'x' } }), false);
  assert.equal(isMessage({ key: 'toString', params: { product: 'x' } }), false);
  assert.equal(isMessage({ key: 'deny.notify' }), false);
  assert.equal(isMessage('deny.notify'), false);
});
