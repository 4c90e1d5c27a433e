import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import axios, { AxiosError } from 'axios';
import { directHttp } from '../../src/surfaces/shared/remote-call.ts';

/** A server that redirects `/moved` to `/elsewhere` and answers JSON elsewhere; it records paths and connections. */
async function server(): Promise<{ url: string; paths: string[]; connections: () => number; close: () => Promise<void> }> {
  const paths: string[] = [];
  let connections = 0;
  const s: Server = createServer((req, res) => {
    paths.push(req.url ?? '');
    if (req.url === '/moved') {
      res.writeHead(302, { location: '/elsewhere' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
  s.on('connection', () => connections++);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    paths,
    connections: () => connections,
    close: () => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }),
  };
}

test('a client with directHttp does not follow a redirect: the call fails with the 3xx answer', async () => {
  const srv = await server();
  try {
    const http = axios.create({ baseURL: srv.url, ...directHttp() });
    const err = await http.get('/moved').then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof AxiosError);
    assert.equal(err.response?.status, 302);
    assert.deepEqual(srv.paths, ['/moved'], 'the redirect target was never asked');
  } finally {
    await srv.close();
  }
});

test('clients with directHttp share kept-alive connections: calls one after another use one connection', async () => {
  const srv = await server();
  try {
    const a = axios.create({ baseURL: srv.url, ...directHttp() });
    const b = axios.create({ baseURL: srv.url, ...directHttp() });
    for (let i = 0; i < 3; i++) {
      assert.deepEqual((await a.get('/x')).data, { ok: true });
      assert.deepEqual((await b.get('/y')).data, { ok: true });
    }
    assert.equal(srv.connections(), 1);
    assert.equal(directHttp().httpAgent, directHttp().httpAgent, 'one agent per process');
  } finally {
    await srv.close();
  }
});
