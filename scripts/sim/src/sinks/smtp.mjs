// SMTP sink (smtp-server + mailparser). Prints one line: "ready smtp://127.0.0.1:P http://127.0.0.1:H"
// — the SMTP address, then the HTTP address that serves GET /_sim/received.
import http from 'node:http';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';
import { parseArgs, logger, announceReady } from '../lib/cli.mjs';
import { sendJSON, listen, closeServer, readBody } from '../lib/http.mjs';

const opts = parseArgs(process.argv.slice(2), {
  port: { type: 'int', default: 0, min: 0, help: 'SMTP port on 127.0.0.1 (0 = pick a free one)' },
  'http-port': { type: 'int', default: 0, min: 0, help: 'HTTP port for /_sim/received (0 = pick a free one)' },
  token: { type: 'string', default: 'test-token', help: 'SMTP AUTH password (any user name)' },
  'require-auth': { type: 'bool', default: false, help: 'reject mail from clients that did not AUTH' },
  verbose: { type: 'bool', default: false, help: 'log every message' },
}, 'scripts/sim/smtp');
const log = logger('smtp-sim', opts.verbose);
let received = [], seq = 0, faults = {};

const smtp = new SMTPServer({
  name: 'sim.smtp.local', banner: 'ezsync SMTP sink', disabledCommands: ['STARTTLS'], authOptional: !opts['require-auth'],
  authMethods: ['PLAIN', 'LOGIN'], size: 25 * 1024 * 1024, logger: false,
  onAuth(auth, session, cb) {
    if (auth.password !== opts.token) return cb(new Error('Invalid username or password'));
    cb(null, { user: auth.username });
  },
  onMailFrom(addr, session, cb) {
    if (faults.rejectMailFrom) { const e = new Error(faults.rejectMailFrom.message ?? 'Temporary failure'); e.responseCode = faults.rejectMailFrom.code ?? 451; return cb(e); }
    cb();
  },
  onData(stream, session, cb) {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', async () => {
      const raw = Buffer.concat(chunks);
      try {
        const m = await simpleParser(raw);
        received.push({ seq: ++seq, at: new Date().toISOString(), auth: session.user ?? null,
          envelope: { mailFrom: session.envelope.mailFrom?.address ?? null, rcptTo: session.envelope.rcptTo.map((r) => r.address) },
          messageId: m.messageId ?? null, from: m.from?.text ?? null, to: m.to?.text ?? null, cc: m.cc?.text ?? null, subject: m.subject ?? null,
          text: m.text ?? null, html: m.html || null, headers: Object.fromEntries([...m.headers].map(([k, v]) => [k, typeof v === 'object' && v?.text ? v.text : v])),
          attachments: m.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, size: a.size })), raw: raw.toString('utf8') });
        log.debug(`message ${seq}: ${m.subject}`);
        cb(null, `Message queued as sim-${seq}`);
      } catch (e) { cb(e); }
    });
  },
});

const web = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const raw = await readBody(req).catch(() => Buffer.alloc(0));
  if (req.method === 'GET' && url.pathname === '/_sim/received') {
    const since = Number(url.searchParams.get('since') ?? 0);
    return sendJSON(res, 200, { received: received.filter((r) => r.seq > since) });
  }
  if (req.method === 'POST' && url.pathname === '/_sim/reset') { received = []; seq = 0; faults = {}; return sendJSON(res, 200, { reset: true }); }
  if (req.method === 'POST' && url.pathname === '/_sim/faults') { faults = raw.length ? JSON.parse(raw) : {}; return sendJSON(res, 200, { faults }); }
  if (url.pathname === '/_sim/health') return sendJSON(res, 200, { ok: true });
  sendJSON(res, 404, { error: 'not found' });
});

smtp.on('error', (e) => log.error(`smtp: ${e.message}`));
const smtpPort = await listen(smtp.server, opts.port);
const httpPort = await listen(web, opts['http-port']);
log.info(`smtp on 127.0.0.1:${smtpPort}, http on 127.0.0.1:${httpPort}`);
announceReady(`smtp://127.0.0.1:${smtpPort} http://127.0.0.1:${httpPort}`, async () => {
  await Promise.all([new Promise((r) => smtp.close(r)), closeServer(web)]);
}, log);
