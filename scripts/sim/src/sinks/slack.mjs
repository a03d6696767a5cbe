// Slack incoming-webhook sink: POST any path records the JSON body and answers "ok" like Slack.
import http from 'node:http';
import { parseArgs, logger, announceReady } from '../lib/cli.mjs';
import { readBody, sendJSON, listen, closeServer, sleep } from '../lib/http.mjs';

const opts = parseArgs(process.argv.slice(2), {
  port: { type: 'int', default: 0, min: 0, help: 'port on 127.0.0.1 (0 = pick a free one)' },
  token: { type: 'string', default: 'test-token', help: 'accepted as Authorization: Bearer (optional; webhooks carry the secret in the path)' },
  verbose: { type: 'bool', default: false, help: 'log every request' },
}, 'scripts/sim/slack');
const log = logger('slack-sim', opts.verbose);
let received = [], seq = 0, faults = {};

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const raw = await readBody(req).catch(() => Buffer.alloc(0));
  if (url.pathname === '/_sim/received' && req.method === 'GET') {
    const since = Number(url.searchParams.get('since') ?? 0);
    return sendJSON(res, 200, { received: received.filter((r) => r.seq > since) });
  }
  if (url.pathname === '/_sim/reset' && req.method === 'POST') { received = []; seq = 0; faults = {}; return sendJSON(res, 200, { reset: true }); }
  if (url.pathname === '/_sim/faults' && req.method === 'POST') { faults = raw.length ? JSON.parse(raw) : {}; return sendJSON(res, 200, { faults }); }
  if (url.pathname === '/_sim/health') return sendJSON(res, 200, { ok: true });
  if (req.method !== 'POST') return sendJSON(res, 405, { error: 'POST a JSON body' });
  const text = raw.toString('utf8');
  let body = null, error = null;
  try { body = JSON.parse(text); } catch { error = 'invalid_payload'; }
  const rec = { seq: ++seq, at: new Date().toISOString(), path: url.pathname, contentType: req.headers['content-type'] ?? null,
    authorization: req.headers.authorization ?? null, body, raw: text, status: 200 };
  if (faults.latencyMs) await sleep(faults.latencyMs);
  if (faults.status && (faults.count === undefined || faults.count-- > 0)) {
    rec.status = faults.status; received.push(rec);
    res.writeHead(faults.status, { 'Content-Type': 'text/plain', ...(faults.status === 429 ? { 'Retry-After': String(faults.retryAfter ?? 1) } : {}) });
    return res.end(faults.status === 429 ? 'rate_limited' : 'internal_error');
  }
  if (error) { rec.status = 400; received.push(rec); res.writeHead(400, { 'Content-Type': 'text/plain' }); return res.end(error); }
  if (!body || (typeof body.text !== 'string' && !Array.isArray(body.blocks) && !Array.isArray(body.attachments))) {
    rec.status = 400; received.push(rec); res.writeHead(400, { 'Content-Type': 'text/plain' }); return res.end('no_text');
  }
  received.push(rec);
  log.debug(`received ${url.pathname} ${text.length} bytes`);
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('ok');
});
const port = await listen(server, opts.port);
const base = `http://127.0.0.1:${port}`;
log.info(`listening on ${base}`);
announceReady(base, () => closeServer(server), log);
