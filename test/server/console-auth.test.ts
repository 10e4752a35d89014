/**
 * The web console's sign-in, sessions, CSRF and input checks over plain HTTP on a real server:
 * nothing but the sign-in page or a 401 without a session, cookies HttpOnly + SameSite=Strict (and
 * Secure behind TLS), malformed and expired sessions, forms without or with a wrong CSRF token, a
 * viewer refused an action, bad fields named, and no token or session id in the log.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { leaseRequest, startServer, type TestServer } from '../helpers/server.js';
import { ADMIN_TOKEN, consoleConfig, form, FORM, hiddenCsrf, setCookies, signIn, VIEWER_TOKEN } from '../helpers/console.js';
import { PAGES } from '../../src/server/console/pages.js';
import { makePki } from '../helpers/tls.js';

let srv: TestServer;
before(async () => {
  srv = await startServer({ products: [{ id: 'cad', name: 'CAD', seats: 2 }], config: { ...consoleConfig(), leases: { ttlSeconds: 60 } } });
});
after(async () => {
  await srv.cleanup();
});

const DOWNLOADS = ['/download/overview/products.csv', '/download/usage/log.json', '/download/leases/leases.csv', '/download/agents/agents.json'];

test('without a session every page redirects to the sign-in page and every download is 401, with no data', async () => {
  const a = await srv.enroll('ws-secret-host');
  assert.equal((await a.post('/v1/leases', leaseRequest({ user: 'hidden-user', host: 'ws-secret-host' }))).status, 201);
  for (const p of PAGES) {
    for (const cookie of [
      undefined,
      'usage_console=',
      'usage_console=abc',
      'usage_console=%zz%',
      `usage_console=${'A'.repeat(43)}`,
      'garbage;;;==; usage_console',
    ]) {
      const r = await srv.request('GET', `${p.path}?from=2024-01-01`, { headers: cookie ? { cookie } : {} });
      assert.equal(r.status, 303, `${p.path} ${cookie}`);
      assert.equal(r.headers.location, `/sign-in?next=${encodeURIComponent(`${p.path}?from=2024-01-01`)}`);
      assert.doesNotMatch(r.text, /hidden-user|ws-secret-host/);
    }
  }
  // A URL too long to carry back: the sign-in returns to its path.
  const long = await srv.request('GET', `/usage?${'a=1&'.repeat(2000)}`);
  assert.equal(long.status, 303);
  assert.equal(long.headers.location, `/sign-in?next=${encodeURIComponent('/usage')}`);
  for (const d of DOWNLOADS) {
    const r = await srv.request('GET', d, { headers: { cookie: 'usage_console=abc' } });
    assert.equal(r.status, 401, d);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
    assert.equal(r.body.field, 'cookie:usage_console');
    assert.doesNotMatch(r.text, /hidden-user|ws-secret-host/);
  }
  // An API admin token is no console session.
  assert.equal((await srv.request('GET', DOWNLOADS[0], { token: ADMIN_TOKEN })).status, 401);
  const signInPage = await srv.request('GET', '/sign-in');
  assert.equal(signInPage.status, 200);
  assert.match(signInPage.text, /<form method="post" action="\/sign-in"/);
  assert.doesNotMatch(signInPage.text, /<script/i);
});

test('sign-in: the form CSRF token, a wrong token refused, the session cookie HttpOnly and SameSite=Strict, Secure only behind TLS', async () => {
  const page = await srv.request('GET', '/sign-in?next=/agents');
  const pre = setCookies(page).get('usage_console_signin')!;
  assert.match(pre.attrs, /HttpOnly/);
  assert.match(pre.attrs, /SameSite=Strict/);
  const csrf = hiddenCsrf(page.text);
  const post = (fields: Record<string, string>, cookie?: string, headers: Record<string, string> = {}) =>
    srv.request('POST', '/sign-in', { raw: form(fields), headers: { ...FORM, ...(cookie ? { cookie } : {}), ...headers } });

  const noCookie = await post({ _csrf: csrf, token: ADMIN_TOKEN });
  assert.equal(noCookie.status, 403);
  assert.equal(noCookie.body.field, 'form:_csrf');
  const wrong = await post({ _csrf: 'x'.repeat(43), token: ADMIN_TOKEN }, `usage_console_signin=${pre.value}`);
  assert.equal(wrong.status, 403);
  assert.equal(wrong.body.field, 'form:_csrf');
  assert.equal(setCookies(wrong).get('usage_console'), undefined);

  const badToken = await post({ _csrf: csrf, token: 'not-a-console-token-at-all' }, `usage_console_signin=${pre.value}`);
  assert.equal(badToken.status, 401);
  assert.match(badToken.text, /This token is not accepted/);
  assert.equal(setCookies(badToken).get('usage_console'), undefined);

  const unknownField = await post({ _csrf: csrf, token: ADMIN_TOKEN, role: 'admin' }, `usage_console_signin=${pre.value}`);
  assert.equal(unknownField.status, 400);
  assert.equal(unknownField.body.field, 'form:role');

  const ok = await post({ _csrf: csrf, token: VIEWER_TOKEN, next: '/agents' }, `usage_console_signin=${pre.value}`);
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.location, '/agents');
  const session = setCookies(ok).get('usage_console')!;
  assert.match(session.value, /^[A-Za-z0-9_-]{43}$/);
  assert.match(session.attrs, /HttpOnly/);
  assert.match(session.attrs, /SameSite=Strict/);
  assert.doesNotMatch(session.attrs, /Secure/);
  const agents = await srv.request('GET', '/agents', { headers: { cookie: `usage_console=${session.value}` } });
  assert.equal(agents.status, 200);
  assert.match(agents.text, /vera \(viewer\)/);
  for (const h of ['content-security-policy', 'x-frame-options', 'cache-control']) assert.ok(agents.headers[h], h);
  assert.match(String(agents.headers['content-security-policy']), /frame-ancestors 'none'/);
  assert.doesNotMatch(String(agents.headers['content-security-policy']), /script-src|unsafe-inline/);
  assert.equal(agents.headers['cache-control'], 'no-store');

  // An open redirect is not: `next` must be a path on this server.
  const away = await post({ _csrf: csrf, token: VIEWER_TOKEN, next: '//evil.example/x' }, `usage_console_signin=${pre.value}`);
  assert.equal(away.headers.location, '/');

  // The log has who signed in, never the token or the session id.
  const out = srv.output();
  assert.match(out, /console sign-in/);
  for (const secret of [ADMIN_TOKEN, VIEWER_TOKEN, session.value, pre.value]) assert.ok(!out.includes(secret), 'a secret in the log');
});

test('behind a trusted TLS proxy the cookies are Secure', async (t) => {
  const tls = await startServer({ config: { ...consoleConfig(), trustProxy: true } });
  t.after(() => tls.cleanup());
  const xf = { 'x-forwarded-proto': 'https' };
  const page = await tls.request('GET', '/sign-in', { headers: xf });
  const pre = setCookies(page).get('usage_console_signin')!;
  assert.match(pre.attrs, /Secure/);
  const r = await tls.request('POST', '/sign-in', {
    raw: form({ _csrf: hiddenCsrf(page.text), token: ADMIN_TOKEN }),
    headers: { ...FORM, ...xf, cookie: `usage_console_signin=${pre.value}` },
  });
  assert.equal(r.status, 303, r.text);
  assert.match(setCookies(r).get('usage_console')!.attrs, /Secure/);
});

test("over the server's own TLS (certificates made by openssl) the session cookie is Secure", async (t) => {
  const pki = makePki(t);
  const ca = pki.ca('console-ca');
  const cert = pki.issue(ca, 'localhost', { ips: ['127.0.0.1'], dns: ['localhost'] });
  const tls = await startServer({ config: { ...consoleConfig(), tls: { certFile: cert.cert, keyFile: cert.key } }, https: { ca: ca.pem } });
  t.after(() => tls.cleanup());
  assert.match(tls.url, /^https:/);
  const page = await tls.request('GET', '/sign-in');
  assert.match(setCookies(page).get('usage_console_signin')!.attrs, /Secure/);
  const c = await signIn(tls, VIEWER_TOKEN);
  const r = await tls.request('POST', '/sign-in', {
    raw: form({ _csrf: hiddenCsrf(page.text), token: ADMIN_TOKEN }),
    headers: { ...FORM, cookie: `usage_console_signin=${setCookies(page).get('usage_console_signin')!.value}` },
  });
  assert.equal(r.status, 303);
  assert.match(setCookies(r).get('usage_console')!.attrs, /HttpOnly; SameSite=Strict; Secure/);
  assert.equal((await c.get('/agents')).status, 200);
});

test('actions need the CSRF token, a same-origin post and the admin role; the viewer is refused and nothing changes', async () => {
  const a = await srv.enroll('ws-csrf');
  const g = await a.post('/v1/leases', leaseRequest({ user: 'ann', host: 'ws-csrf' }));
  assert.equal(g.status, 201, g.text);
  const lease = g.body.leaseId as string;
  const admin = await signIn(srv, ADMIN_TOKEN);
  const viewer = await signIn(srv, VIEWER_TOKEN);
  const adminCsrf = await admin.csrf('/leases');
  const viewerCsrf = await viewer.csrf('/leases');
  assert.notEqual(adminCsrf, viewerCsrf);
  // The viewer's page has no revoke form; the admin's has.
  assert.doesNotMatch((await viewer.get('/leases')).text, new RegExp(`/leases/${lease}/revoke`));
  assert.match((await admin.get('/leases')).text, new RegExp(`action="/leases/${lease}/revoke"`));

  const refusals: Array<[string, Promise<Awaited<ReturnType<typeof admin.post>>>, string]> = [
    ['no token', admin.post(`/leases/${lease}/revoke`, {}), 'form:_csrf'],
    ['a wrong token', admin.post(`/leases/${lease}/revoke`, { _csrf: 'y'.repeat(43) }), 'form:_csrf'],
    ["another session's token", admin.post(`/leases/${lease}/revoke`, { _csrf: viewerCsrf }), 'form:_csrf'],
    ['another origin', admin.post(`/leases/${lease}/revoke`, { _csrf: adminCsrf }, { origin: 'http://evil.example' }), 'header:origin'],
    ['the viewer role', viewer.post(`/leases/${lease}/revoke`, { _csrf: viewerCsrf }), 'role'],
  ];
  for (const [what, p, field] of refusals) {
    const r = await p;
    assert.equal(r.status, 403, what);
    assert.equal(r.body.field, field, what);
  }
  const viewerSeats = await viewer.post('/products/cad/seats', { _csrf: viewerCsrf, seats: '9' });
  assert.equal(viewerSeats.status, 403);
  // A browser gets the error as a page.
  const html = await viewer.post(`/leases/${lease}/revoke`, { _csrf: viewerCsrf }, { accept: 'text/html' });
  assert.equal(html.status, 403);
  assert.match(String(html.headers['content-type']), /^text\/html/);
  assert.match(html.text, /only the admin role may do this/);
  const [row] = await srv.sql('SELECT ended_at FROM leases WHERE id = ?', lease);
  assert.equal(row.ended_at, null, 'the lease is still live');
  assert.equal((await srv.sql("SELECT seats FROM products WHERE id = 'cad'"))[0].seats, 2);
  assert.equal(
    (await srv.request('POST', `/leases/${lease}/revoke`, { raw: form({ _csrf: adminCsrf }), headers: FORM })).status,
    303,
    'no session: to the sign-in page',
  );

  const ok = await admin.post(`/leases/${lease}/revoke`, { _csrf: adminCsrf, back: '/leases?product=cad' }, { origin: srv.url });
  assert.equal(ok.status, 303, ok.text);
  assert.equal(ok.headers.location, '/leases?product=cad&notice=lease-revoked');
  const [ended] = await srv.sql('SELECT ended_at, end_reason FROM leases WHERE id = ?', lease);
  assert.equal(ended.end_reason, 'revoked');
  assert.equal((await a.post(`/v1/leases/${lease}/renew`, {})).status, 404);
  assert.match(srv.output(), /"action":"lease-revoked","by":"admin token 1"/);
});

test('bad fields and filters are 4xx naming the field', async () => {
  const admin = await signIn(srv, ADMIN_TOKEN);
  const csrf = await admin.csrf();
  const cases: Array<[Promise<Awaited<ReturnType<typeof admin.get>>>, number, string]> = [
    [admin.post('/products/cad/seats', { _csrf: csrf, seats: 'many' }), 400, 'form:seats'],
    [admin.post('/products/cad/seats', { _csrf: csrf, seats: '-1' }), 400, 'form:seats'],
    [admin.post('/products/cad/seats', { _csrf: csrf }), 400, 'form:seats'],
    [admin.post('/products/cad/seats', { _csrf: csrf, seats: '3', colour: 'red' }), 400, 'form:colour'],
    [admin.post('/products/nope/seats', { _csrf: csrf, seats: '3' }), 404, 'path:id'],
    [admin.post('/allocations/abc/revoke', { _csrf: csrf }), 400, 'path:id'],
    [admin.post('/agents/ag_nope/revoke', { _csrf: csrf }), 404, 'path:id'],
    [srv.request('POST', '/products/cad/seats', { raw: `_csrf=${csrf}&seats=1&seats=2`, headers: { ...FORM, cookie: admin.cookie } }), 400, 'form:seats'],
    [admin.get('/usage?from=2024-13-01'), 400, 'query:from'],
    [admin.get('/usage?from=2024-05-02&to=2024-05-01'), 400, 'query:from'],
    [admin.get('/usage?from=2020-01-01&to=2024-01-01'), 400, 'query:to'],
    [admin.get('/usage?tz=Mars/Olympus'), 400, 'query:tz'],
    [admin.get('/usage?prodcut=cad'), 400, 'query:prodcut'],
    [admin.get('/download/usage/log.csv?user=a&user=b'), 400, 'query:user'],
    [admin.get('/download/usage/nothing.csv'), 404, 'path:file'],
    [admin.get('/download/nopage/log.csv'), 404, 'path:page'],
  ];
  for (const [p, status, field] of cases) {
    const r = await p;
    assert.equal(r.status, status, `${field}: ${r.text}`);
    assert.equal(r.body.field, field, r.text);
    assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
  }
  assert.equal((await srv.sql("SELECT seats FROM products WHERE id = 'cad'"))[0].seats, 2, 'no bad form changed the seats');
  const set = await admin.post('/products/cad/seats', { _csrf: csrf, seats: '3' });
  assert.equal(set.status, 303);
  assert.equal((await srv.sql("SELECT seats FROM products WHERE id = 'cad'"))[0].seats, 3);
});

test('sign-out ends the session; an idle session expires', async (t) => {
  const admin = await signIn(srv, ADMIN_TOKEN);
  const csrf = await admin.csrf();
  const out = await admin.post('/sign-out', { _csrf: csrf });
  assert.equal(out.status, 303);
  assert.equal(out.headers.location, '/sign-in');
  assert.match(setCookies(out).get('usage_console')!.attrs, /Max-Age=0/);
  assert.equal((await admin.get('/')).status, 303);
  assert.equal((await admin.get(DOWNLOADS[0])).status, 401);

  const short = await startServer({ config: consoleConfig({ sessionIdleSeconds: 1 }) });
  t.after(() => short.cleanup());
  const c = await signIn(short, VIEWER_TOKEN);
  assert.equal((await c.get('/agents')).status, 200);
  await new Promise((r) => setTimeout(r, 1300));
  const expired = await c.get('/agents');
  assert.equal(expired.status, 303);
  assert.equal(expired.headers.location, `/sign-in?next=${encodeURIComponent('/agents')}&expired=1`);
  const page = await short.request('GET', expired.headers.location as string);
  assert.match(page.text, /Your session has expired/);
  // Gone for good: the next request does not know it at all.
  const again = await c.get('/download/agents/agents.csv');
  assert.equal(again.status, 401);
  assert.equal(again.body.code, 'token-missing');
});

test('sign-in attempts are rate-limited per address; signing in again ends the previous session', async (t) => {
  const limited = await startServer({ config: consoleConfig() });
  t.after(() => limited.cleanup());
  const first = await signIn(limited, VIEWER_TOKEN);
  const page = await limited.request('GET', '/sign-in');
  const pre = setCookies(page).get('usage_console_signin')!.value;
  const attempt = (cookie: string) =>
    limited.request('POST', '/sign-in', { raw: form({ _csrf: hiddenCsrf(page.text), token: 'wrong-token-0123456789' }), headers: { ...FORM, cookie } });
  // The sign-in above took one of the 30.
  for (let i = 0; i < 29; i++) assert.equal((await attempt(`usage_console_signin=${pre}`)).status, 401, `attempt ${i}`);
  const refused = await attempt(`usage_console_signin=${pre}`);
  assert.equal(refused.status, 429);
  assert.equal(refused.body.code, 'rate-limited');
  assert.ok(Number(refused.headers['retry-after']) >= 1);
  // Even the right token waits now.
  const right = await limited.request('POST', '/sign-in', {
    raw: form({ _csrf: hiddenCsrf(page.text), token: VIEWER_TOKEN }),
    headers: { ...FORM, cookie: `usage_console_signin=${pre}` },
  });
  assert.equal(right.status, 429);
  assert.equal((await first.get('/agents')).status, 200, 'a session already made is not touched');

  const again = await signIn(srv, VIEWER_TOKEN);
  const p2 = await srv.request('GET', '/sign-in');
  const pre2 = setCookies(p2).get('usage_console_signin')!.value;
  const second = await srv.request('POST', '/sign-in', {
    raw: form({ _csrf: hiddenCsrf(p2.text), token: ADMIN_TOKEN }),
    headers: { ...FORM, cookie: `usage_console_signin=${pre2}; ${again.cookie}` },
  });
  assert.equal(second.status, 303);
  assert.equal((await again.get('/agents')).status, 303, 'the previous session ended');
});

test('a console token listed twice is a configuration error naming the key', async () => {
  const r = await srv.cli('check-config');
  assert.equal(r.code, 0, r.stderr);
  const { writeFileSync, readFileSync } = await import('node:fs');
  const cfg = JSON.parse(readFileSync(srv.configPath, 'utf8'));
  cfg.console.tokens.push({ token: ADMIN_TOKEN, role: 'viewer' });
  const bad = `${srv.dir}/dup.json`;
  writeFileSync(bad, JSON.stringify(cfg));
  const { spawnSync } = await import('node:child_process');
  const { SERVER_CLI } = await import('../helpers/server.js');
  const c = spawnSync(process.execPath, [SERVER_CLI, 'check-config', '--config', bad], { encoding: 'utf8' });
  assert.equal(c.status, 78);
  assert.match(c.stderr, /dup\.json: console\.tokens\[1\]\.token: this token is already listed/);
  assert.ok(!c.stderr.includes(ADMIN_TOKEN));
});
