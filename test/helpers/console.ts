/**
 * A console client over plain HTTP for the console tests: signs in through the real sign-in form
 * (its CSRF cookie and field), keeps the session cookie, reads the CSRF token of a page's forms.
 */
import assert from 'node:assert/strict';
import type { HttpResult, TestServer } from './server.js';

export const VIEWER_TOKEN = 'viewer-token-console-0123456789';
export const ADMIN_TOKEN = 'admin-token-console-0123456789';
export const consoleConfig = (extra: Record<string, unknown> = {}) => ({
  console: { tokens: [{ token: VIEWER_TOKEN, role: 'viewer', name: 'vera' }], ...extra },
  reports: { adminTokens: [ADMIN_TOKEN] },
});

/** name=value of each Set-Cookie header. */
export function setCookies(r: HttpResult): Map<string, { value: string; attrs: string }> {
  const raw = r.headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return new Map(
    list.map((c) => {
      const [pair, ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      return [pair.slice(0, i), { value: pair.slice(i + 1), attrs: attrs.map((a) => a.trim()).join('; ') }];
    }),
  );
}

export const hiddenCsrf = (html: string): string => {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(m, 'the page has a CSRF field');
  return m[1];
};

export const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

export interface ConsoleClient {
  cookie: string;
  get(path: string, headers?: Record<string, string>): Promise<HttpResult>;
  post(path: string, fields: Record<string, string>, headers?: Record<string, string>): Promise<HttpResult>;
  /** The CSRF token in the forms of a page. */
  csrf(path?: string): Promise<string>;
}

/** Sign in with `token` through the form; fails the test unless the server answers 303 with a session cookie. */
export async function signIn(srv: TestServer, token: string): Promise<ConsoleClient> {
  const page = await srv.request('GET', '/sign-in');
  assert.equal(page.status, 200);
  const pre = setCookies(page).get('usage_console_signin')!.value;
  const r = await srv.request('POST', '/sign-in', {
    raw: form({ _csrf: hiddenCsrf(page.text), token, next: '/' }),
    headers: { ...FORM, cookie: `usage_console_signin=${pre}` },
  });
  assert.equal(r.status, 303, r.text);
  const session = setCookies(r).get('usage_console');
  assert.ok(session, 'a session cookie');
  const cookie = `usage_console=${session.value}`;
  const client: ConsoleClient = {
    cookie,
    get: (path, headers = {}) => srv.request('GET', path, { headers: { cookie, ...headers } }),
    post: (path, fields, headers = {}) => srv.request('POST', path, { raw: form(fields), headers: { ...FORM, cookie, ...headers } }),
    async csrf(path = '/') {
      const p = await client.get(path);
      assert.equal(p.status, 200, p.text);
      return hiddenCsrf(p.text);
    },
  };
  return client;
}
