// Slack and SMTP sinks, and the command-line contract shared by all four simulators.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startSim, request, ctl, SIM_DIR } from './helpers.mjs';

// nodemailer lives in scripts/sim/node_modules (installed by scripts/sim/setup).
const nodemailer = createRequire(path.join(SIM_DIR, 'package.json'))('nodemailer');

test('slack sink records JSON bodies and answers "ok" like Slack', async () => {
  const s = await startSim('slack', ['--port', '0']);
  try {
    let r = await request('POST', `${s.url}/services/T000/B000/XXXX`, { body: { text: 'Order #1001 failed to sync :warning:', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*#1001*' } }] } });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'ok');
    r = await request('POST', `${s.url}/services/T000/B000/XXXX`, { body: 'not json' });
    assert.equal(r.status, 400);
    assert.equal(r.text, 'invalid_payload');
    await ctl(s.url, 'POST', '/_sim/faults', { status: 500, count: 1 });
    assert.equal((await request('POST', `${s.url}/hook`, { body: { text: 'x' } })).status, 500);
    assert.equal((await request('POST', `${s.url}/hook`, { body: { text: 'y' } })).status, 200);
    const got = (await ctl(s.url, 'GET', '/_sim/received')).received;
    assert.equal(got.length, 4);
    assert.equal(got[0].path, '/services/T000/B000/XXXX');
    assert.equal(got[0].body.text, 'Order #1001 failed to sync :warning:');
    assert.deepEqual(got.map((g) => g.status), [200, 400, 500, 200]);
  } finally { assert.equal((await s.stop()).code, 0); }
});

test('smtp sink: ready line has the SMTP and HTTP addresses; AUTH with the token; messages parsed', async () => {
  const s = await startSim('smtp', ['--port', '0', '--http-port', '0', '--require-auth']);
  try {
    assert.match(s.line, /^ready smtp:\/\/127\.0\.0\.1:\d+ http:\/\/127\.0\.0\.1:\d+$/);
    const u = new URL(s.url);
    const send = (pass) => nodemailer.createTransport({ host: '127.0.0.1', port: Number(u.port), secure: false, ignoreTLS: true, auth: { user: 'ezsync', pass } })
      .sendMail({ from: 'ezsync@shop.example', to: 'ops@shop.example', subject: 'Sync failed: Zoë’s order #1001', text: 'Retry in 5 min — détails ci-dessous.' });
    await assert.rejects(send('wrong'), /Invalid username or password|535/);
    const info = await send('test-token');
    assert.match(info.response, /^250 /);
    const got = (await ctl(s.url2, 'GET', '/_sim/received')).received;
    assert.equal(got.length, 1);
    assert.equal(got[0].subject, 'Sync failed: Zoë’s order #1001');
    assert.equal(got[0].text.trim(), 'Retry in 5 min — détails ci-dessous.');
    assert.deepEqual(got[0].envelope, { mailFrom: 'ezsync@shop.example', rcptTo: ['ops@shop.example'] });
    assert.equal(got[0].auth, 'ezsync');
  } finally { assert.equal((await s.stop()).code, 0); }
});

function run(name, args) {
  return new Promise((resolve) => {
    const c = spawn(path.join(SIM_DIR, name), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    c.stdout.on('data', (d) => { out += d; });
    c.stderr.on('data', (d) => { err += d; });
    c.on('exit', (code) => resolve({ code, out, err }));
  });
}

test('every simulator: unknown flag -> clear error and exit 2; bad value -> exit 2', async () => {
  for (const name of ['shopify', 'orderez', 'slack', 'smtp']) {
    const r = await run(name, ['--port', '0', '--frobnicate', '1']);
    assert.equal(r.code, 2, name);
    assert.match(r.err, /unknown option '--frobnicate'/);
    assert.equal(r.out, '', 'nothing on stdout');
  }
  assert.equal((await run('shopify', ['--plan', 'gold'])).code, 2);
  assert.equal((await run('orderez', ['--rate', 'fast'])).code, 2);
  assert.equal((await run('shopify', ['--shop', 'example.com'])).code, 2);
});

test('every simulator: one ready line on stdout, logs on stderr, SIGINT/SIGTERM -> exit 0', async () => {
  for (const [name, sig] of [['shopify', 'SIGINT'], ['orderez', 'SIGTERM'], ['slack', 'SIGINT'], ['smtp', 'SIGTERM']]) {
    const s = await startSim(name, ['--port', '0']);
    s.child.kill(sig);
    const r = await s.exited;
    assert.equal(r.code, 0, `${name} on ${sig}: ${JSON.stringify(r)} ${s.stderr()}`);
    assert.equal(s.stdout().trim().split('\n').length, 1, `${name}: exactly one stdout line`);
    assert.match(s.stderr(), /listening|smtp on/);
  }
});
