// Shared test helpers: start a simulator process, wait for its "ready" line, talk HTTP.
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SIM_DIR = path.resolve(here, '..', '..', 'scripts', 'sim');

export function startSim(name, args = [], { timeoutMs = 15000 } = {}) {
  const child = spawn(path.join(SIM_DIR, name), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${name} not ready in ${timeoutMs} ms:\n${stderr}`)); }, timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(t);
      const line = out.slice(0, nl);
      const m = /^ready (\S+)(?: (\S+))?$/.exec(line);
      if (!m) { child.kill('SIGKILL'); return reject(new Error(`bad ready line: ${line}`)); }
      const exited = new Promise((r) => child.once('exit', (code, signal) => r({ code, signal })));
      resolve({
        url: m[1], url2: m[2], child, line, exited, stdout: () => out, stderr: () => stderr,
        async stop() { if (child.exitCode === null) child.kill('SIGTERM'); return exited; },
      });
    });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`${name} exited with ${code} before ready:\n${stderr}`)); });
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

// Raw HTTP: resolves {status, headers, text, json}. `body` objects are JSON-encoded.
export function request(method, url, { body, headers = {}, raw = false } = {}) {
  const u = new URL(url);
  const data = body === undefined ? null : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(u, { method, agent, headers: { ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}), ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        if (!raw) { try { json = JSON.parse(text); } catch { /* not JSON */ } }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}

export const TOKEN = 'test-token';
export function gql(base, query, variables, { token = TOKEN, version = '2026-10', operationName } = {}) {
  return request('POST', `${base}/admin/api/${version}/graphql.json`, { body: { query, variables, operationName }, headers: { 'X-Shopify-Access-Token': token } });
}
export const ctl = (base, method, p, body) => request(method, `${base}${p}`, { body }).then((r) => r.json ?? r.text);

// A local webhook receiver. `respond(req, body)` may return a status (or a promise of one).
export function receiver(respond = () => 200) {
  const got = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks);
      const rec = { at: Date.now(), path: req.url, headers: req.headers, raw, text: raw.toString('utf8') };
      got.push(rec);
      const st = await respond(rec);
      if (st === 'hang') return;
      res.writeHead(st, { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}/webhooks`, got,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

export async function waitFor(fn, { timeoutMs = 5000, stepMs = 20 } = {}) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
