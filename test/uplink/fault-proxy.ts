/**
 * A tiny fault-injecting HTTP proxy in front of a real usage-server. Each request whose path
 * matches is handled by the next fault in `plan` (then `pass` once the plan is used up):
 *   pass            forward and relay the answer
 *   500             answer 500 without forwarding (server never sees it)
 *   503-retry-after answer 503 with Retry-After: 0
 *   hang            forward (the server stores it), never answer: the client times out
 *   close-mid-body  forward, send headers and half of the body, destroy the socket
 *   malformed       forward, answer 200 with a body that is not JSON
 *   down            destroy the connection at once (like a dead server)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { request } from 'undici';

export type Fault = 'pass' | '500' | '503-retry-after' | 'hang' | 'close-mid-body' | 'malformed' | 'down';

export interface FaultProxy {
  url: string;
  plan: Fault[];
  /** Faults applied so far, in order. */
  applied: Fault[];
  /** When set, every request is answered with this fault (e.g. 'down' for an outage). */
  always: Fault | undefined;
  /** Every relayed exchange: method, path and the server's status. */
  log: Array<{ method: string; path: string; status: number; headers: Record<string, string> }>;
  close(): Promise<void>;
}

export async function startFaultProxy(target: () => string, match: (path: string) => boolean): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const proxy: FaultProxy = { url: '', plan: [], applied: [], always: undefined, log: [], close: async () => undefined };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      let fault: Fault = 'pass';
      if (proxy.always) fault = proxy.always;
      else if (match(path) && proxy.plan.length > 0) fault = proxy.plan.shift()!;
      if (match(path) || proxy.always) proxy.applied.push(fault);
      if (fault === 'down') return req.socket.destroy();
      if (fault === '500') return res.writeHead(500, { 'content-type': 'application/json' }).end('{"status":500}');
      if (fault === '503-retry-after') return res.writeHead(503, { 'retry-after': '0', 'content-type': 'application/json' }).end('{}');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'connection') headers[k] = v;
      let up;
      try {
        up = await request(target() + path, { method: req.method as 'GET', headers, body: body.length ? body : undefined });
      } catch {
        return req.socket.destroy();
      }
      const text = await up.body.text();
      proxy.log.push({ method: req.method ?? 'GET', path, status: up.statusCode, headers });
      if (fault === 'hang') return; // the server did the work; the answer never comes
      if (fault === 'malformed') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"ackedThroughSeq": 12, "sto');
      const outHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(up.headers))
        if (typeof v === 'string' && !['connection', 'keep-alive', 'transfer-encoding', 'content-length'].includes(k)) outHeaders[k] = v;
      if (fault === 'close-mid-body') {
        res.writeHead(up.statusCode, { ...outHeaders, 'content-length': String(Buffer.byteLength(text)) });
        res.write(text.slice(0, Math.floor(text.length / 2)));
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      res.writeHead(up.statusCode, { ...outHeaders, 'content-length': String(Buffer.byteLength(text)) }).end(text);
    })();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return proxy;
}
