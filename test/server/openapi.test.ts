/**
 * The OpenAPI document is committed (src/protocol/openapi.json), equal to what the code generates,
 * structurally valid, documents exactly the routes the server registers, and is what a running
 * server serves.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { buildOpenApi, openApiText } from '../../src/protocol/openapi.js';
import { createServer } from '../../src/server/app.js';
import { parseServerConfig } from '../../src/server/config.js';
import { SERVER_VERSION } from '../../src/server/version.js';
import { startServer } from '../helpers/server.js';

const here = dirname(fileURLToPath(import.meta.url));
/** This file runs from dist*\/test/server; the committed document is in the source tree. */
const COMMITTED = join(here, '..', '..', '..', 'src', 'protocol', 'openapi.json');
const committedText = readFileSync(COMMITTED, 'utf8');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

test('the committed openapi.json is exactly what the code generates (run `npm run openapi` after changing the protocol)', () => {
  assert.equal(committedText, openApiText(SERVER_VERSION), `${COMMITTED} is out of date: run npm run openapi`);
});

test('the document is structurally valid OpenAPI 3.1', () => {
  const doc = JSON.parse(committedText) as {
    openapi: string;
    info: { title: string; version: string };
    paths: Record<string, Record<string, any>>;
    components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
  };
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  assert.equal(typeof doc.info.title, 'string');
  assert.equal(doc.info.version, SERVER_VERSION);
  const opIds = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths)) {
    assert.match(path, /^\//, path);
    const params = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const [method, op] of Object.entries(item)) {
      assert.ok(METHODS.includes(method), `${path}: ${method}`);
      assert.equal(typeof op.operationId, 'string', `${method} ${path} has an operationId`);
      assert.ok(!opIds.has(op.operationId), `operationId ${op.operationId} is unique`);
      opIds.add(op.operationId);
      assert.ok(Object.keys(op.responses ?? {}).length > 0, `${method} ${path} has responses`);
      for (const code of Object.keys(op.responses)) assert.match(code, /^[1-5]\d\d$|^default$/, `${method} ${path} ${code}`);
      const pathParams = (op.parameters ?? [])
        .filter((p: { in: string }) => p.in === 'path')
        .map((p: { name: string; required: boolean }) => {
          assert.equal(p.required, true, `${method} ${path}: path parameter ${p.name} is required`);
          return p.name;
        });
      assert.deepEqual(pathParams.sort(), [...params].sort(), `${method} ${path}: path parameters declared`);
      for (const s of op.security ?? [])
        for (const k of Object.keys(s)) assert.ok(doc.components.securitySchemes[k], `${method} ${path}: security scheme ${k}`);
    }
  }
  // Every $ref points at an existing component.
  const refs = [...committedText.matchAll(/"\$ref": "([^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.length > 20);
  for (const r of refs) {
    const m = /^#\/components\/schemas\/(.+)$/.exec(r);
    assert.ok(m && doc.components.schemas[m[1]], `unresolved $ref ${r}`);
  }
});

test('every route the server registers is documented, and nothing else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'usage-server-openapi-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = parseServerConfig({ db: join(dir, 'u.db'), reports: { adminTokens: ['admin-token-0123456789abcdef'] } }, 'test');
  const handle = await createServer(cfg, pino({ level: 'silent' }));
  t.after(() => handle.close());
  const registered = handle.routes.map((r) => `${r.method.toLowerCase()} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`).sort();
  assert.ok(registered.length >= 14, registered.join('\n'));
  // fastify's own view of the routes agrees with the onRoute hook.
  const printed = handle.app.printRoutes({ commonPrefix: false });
  for (const r of handle.routes) assert.ok(printed.includes(r.url.split('/').pop()!), `${r.url} in printRoutes`);
  const doc = buildOpenApi(SERVER_VERSION) as { paths: Record<string, Record<string, unknown>> };
  const documented = Object.entries(doc.paths)
    .flatMap(([p, item]) => Object.keys(item).map((m) => `${m} ${p}`))
    .sort();
  assert.deepEqual(registered, documented);
  // The web console's pages are registered too, outside the API: none under /v1, none in the document.
  assert.ok(handle.consoleRoutes.length > 0);
  for (const r of handle.consoleRoutes) assert.ok(!r.url.startsWith('/v1/') && !(r.url in doc.paths), `console route ${r.method} ${r.url}`);
});

let srv: Awaited<ReturnType<typeof startServer>> | undefined;
after(async () => {
  await srv?.cleanup();
});

test('a running server serves the committed document', async () => {
  srv = await startServer();
  const r = await srv.request('GET', '/v1/openapi.json');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  assert.deepEqual(r.body, JSON.parse(committedText));
});
