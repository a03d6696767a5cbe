// End-to-end: the real ezsync binary's webhook receiver and admin listener. Every case that
// must not store anything checks the events table before and after.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  start, deliver, request, admin, sql, eventCount, sign, waitFor, sleep, webhookId,
  SHOP, SECRET, ADMIN_TOKEN,
} from './lib.mjs';

const OLD_SECRET = 'shpss_e2e_previous_secret_value';
const servers = [];
async function startTracked(opts) {
  const s = await start(opts);
  servers.push(s);
  return s;
}

describe('webhook receiver', () => {
  let s;
  before(async () => { s = await startTracked({ maxBody: 4096, timeoutMs: 1000 }); });
  after(async () => {
    const { code } = await s.stop('SIGTERM');
    assert.equal(code, 0, s.logs());
  });

  test('a good delivery is stored once, raw, with its headers', async () => {
    const body = '{"id":820982911946154508,"name":"#1001","note":"Café Zürich ☕ 東京"}';
    const r = await deliver(s.public, { body });
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /"ok":true/);
    const rows = sql(s.db, `SELECT source, topic, dedupe_key, event_id, triggered_at, shop,
      api_version, headers, CAST(body AS TEXT) AS body FROM events WHERE dedupe_key = '${r.id}'`);
    assert.equal(rows.length, 1);
    const row = rows[0];
    assert.equal(row.source, 'shopify');
    assert.equal(row.topic, 'orders/create');
    assert.equal(row.event_id, `evt-${r.id}`);
    assert.equal(row.triggered_at, '2026-11-26T10:00:00.000Z');
    assert.equal(row.shop, SHOP);
    assert.equal(row.api_version, '2026-10');
    assert.equal(row.body, body);                          // byte-exact, 64-bit id intact
    const headers = JSON.parse(row.headers);
    assert.equal(headers['x-shopify-topic'], 'orders/create');
    assert.equal(headers['x-shopify-webhook-id'], r.id);
    assert.equal(headers['x-shopify-hmac-sha256'], undefined);
    assert.ok(!row.headers.includes(sign(body)));
  });

  test('a repeated delivery answers 200 and stores nothing new', async () => {
    const id = webhookId();
    const first = await deliver(s.public, { id });
    assert.equal(first.status, 200);
    const before = eventCount(s.db);
    for (let i = 0; i < 3; i++) {
      const again = await deliver(s.public, { id });
      assert.equal(again.status, 200);
      assert.match(again.body, /duplicate/);
    }
    assert.equal(eventCount(s.db), before);
    assert.equal(sql(s.db, `SELECT count(*) AS n FROM events WHERE dedupe_key='${id}'`)[0].n, 1);
  });

  const bad = [
    ['bad HMAC', 401, { headers: { 'X-Shopify-Hmac-Sha256': sign('other body') } }],
    ['HMAC from another secret', 401, { secret: 'not-the-secret' }],
    ['missing HMAC', 401, { headers: { 'X-Shopify-Hmac-Sha256': null } }],
    ['HMAC in hex', 401, { headers: { 'X-Shopify-Hmac-Sha256': 'ab'.repeat(32) } }],
    ['missing topic', 400, { headers: { 'X-Shopify-Topic': null } }],
    ['missing shop domain', 400, { headers: { 'X-Shopify-Shop-Domain': null } }],
    ['missing webhook id', 400, { headers: { 'X-Shopify-Webhook-Id': null } }],
    ['missing API version', 400, { headers: { 'X-Shopify-API-Version': null } }],
    ['unknown shop', 403, { headers: { 'X-Shopify-Shop-Domain': 'evil.myshopify.com' } }],
    ['body over max_body', 413, { body: 'x'.repeat(5000) }],
    ['GET', 405, { method: 'GET', body: undefined }],
    ['PUT', 405, { method: 'PUT' }],
    ['other path', 404, { path: '/webhooks/other' }],
    ['root path', 404, { path: '/' }],
  ];
  for (const [name, status, opts] of bad) {
    test(`${name} → ${status}, nothing stored`, async () => {
      const before = eventCount(s.db);
      const r = await deliver(s.public, opts);
      assert.equal(r.status, status, r.body);
      assert.ok(r.body.length < 200, 'short body');
      assert.ok(!r.body.includes(SECRET));
      assert.equal(eventCount(s.db), before);
      assert.equal(sql(s.db, `SELECT count(*) AS n FROM events WHERE dedupe_key='${r.id}'`)[0].n, 0);
    });
  }

  test('header names are case-insensitive', async () => {
    const body = '{"id":1}';
    const id = webhookId();
    const r = await request(s.public, { method: 'POST', path: '/webhooks/shopify', body, headers: {
      'x-shopify-hmac-sha256': sign(body), 'x-shopify-topic': 'orders/paid',
      'X-SHOPIFY-SHOP-DOMAIN': SHOP, 'x-shopify-webhook-id': id, 'x-shopify-api-version': '2026-10',
    } });
    assert.equal(r.status, 200, r.body);
    assert.equal(sql(s.db, `SELECT topic FROM events WHERE dedupe_key='${id}'`)[0].topic, 'orders/paid');
  });

  test('slow and idle connections are closed by the timeout, nothing stored', async () => {
    const before = eventCount(s.db);
    const openAndWait = (payload) => new Promise((resolve, reject) => {
      const t0 = Date.now();
      const sock = net.connect(s.public.port, s.public.host, () => { if (payload) sock.write(payload); });
      sock.on('error', () => {});
      sock.on('close', () => resolve(Date.now() - t0));
      setTimeout(() => { sock.destroy(); reject(new Error('connection still open after 5 s')); }, 5000);
    });
    const body = '{"id":2}';
    const partialBody = 'POST /webhooks/shopify HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n' +
      `X-Shopify-Hmac-Sha256: ${sign(body)}\r\nX-Shopify-Topic: orders/create\r\n` +
      `X-Shopify-Shop-Domain: ${SHOP}\r\nX-Shopify-Webhook-Id: ${webhookId()}\r\n` +
      `X-Shopify-API-Version: 2026-10\r\n\r\n${body}`;
    const times = await Promise.all([
      openAndWait(null),                                            // idle
      openAndWait('POST /webhooks/shopify HTTP/1.1\r\nHost: x\r\n'), // headers never finish
      openAndWait(partialBody),                                     // body never finishes
    ]);
    for (const ms of times) assert.ok(ms >= 800 && ms < 4000, `closed after ${ms} ms`);
    assert.equal(eventCount(s.db), before);
  });

  test('admin requires the bearer token on every route', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/api/v1/status', '/nope']) {
      assert.equal((await admin(s, path, { token: null })).status, 401, path);
      assert.equal((await admin(s, path, { token: 'wrong-token' })).status, 401, path);
      assert.equal((await admin(s, path, { token: ADMIN_TOKEN.slice(0, -1) })).status, 401, path);
    }
    // a browser (the dashboard) sends the token as a Basic password: accepted, and only the token
    const basic = (pw) => request(s.admin, { path: '/healthz',
      headers: { Authorization: `Basic ${Buffer.from(`x:${pw}`).toString('base64')}` } });
    assert.equal((await basic(ADMIN_TOKEN)).status, 200);
    assert.equal((await basic(ADMIN_TOKEN.slice(0, -1))).status, 401);
    assert.equal((await basic('')).status, 401);
    const noColon = await request(s.admin, { path: '/healthz',
      headers: { Authorization: `Basic ${Buffer.from(ADMIN_TOKEN).toString('base64')}` } });
    assert.equal(noColon.status, 401);
  });

  test('admin routes: healthz, readyz, status, 404, 405', async () => {
    const h = await admin(s, '/healthz');
    assert.equal(h.status, 200);
    assert.equal(h.body.trim(), 'ok');
    const r = await admin(s, '/readyz');
    assert.equal(r.status, 200, r.body);
    const st = await admin(s, '/api/v1/status');
    assert.equal(st.status, 200);
    const j = JSON.parse(st.body);
    assert.equal(typeof j.version, 'string');
    assert.equal(typeof j.uptime_s, 'number');
    assert.ok(j.events_stored >= 1);
    assert.equal(typeof j.last_commit_ms, 'number');
    assert.equal(j.listeners.public, s.info.public);
    assert.equal(j.listeners.admin, s.info.admin);
    assert.equal((await admin(s, '/nope')).status, 404);
    assert.equal((await admin(s, '/healthz', { method: 'POST' })).status, 405);
  });

  test('metrics pass promtool and count what happened', async () => {
    const m = await admin(s, '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    const file = join(s.dir, 'metrics.txt');
    writeFileSync(file, m.body);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: m.body, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
    const value = (series) => {
      const line = m.body.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    for (const code of [200, 400, 401, 403, 404, 405, 413])
      assert.ok(value(`ezsync_http_responses_total{listener="public",code="${code}"}`) >= 1, `code ${code}`);
    assert.ok(value('ezsync_webhook_dedupe_hits_total') >= 3);
    assert.ok(value('ezsync_events_stored_total{source="shopify"}') >= 3);
    // At a quiet time each delivery went on into events before its reply: all moved.
    assert.equal(value('ezsync_ingest_intake_moved_total'), value('ezsync_events_stored_total{source="shopify"}'));
    assert.equal(value('ezsync_ingest_intake_pending'), 0);
    assert.ok(value('ezsync_ingest_commit_seconds_count') >= 3);
    assert.ok(value('ezsync_ingest_batch_size_count') >= 3);
    assert.ok(value('ezsync_webhook_rejected_total{reason="hmac"}') >= 4);
    // The engine works these deliveries against an unreachable OrderEZ: whatever waits is
    // reported consistently with the per-state series.
    const waiting = [0, 1, 2, 3, 4].reduce((n, p) =>
      n + value(`ezsync_jobs{state="queued",priority="${p}"}`) + value(`ezsync_jobs{state="retry_wait",priority="${p}"}`), 0);
    assert.equal(value('ezsync_queue_depth'), waiting);
    const rss = value('process_resident_memory_bytes');
    assert.ok(rss > 1e6 && rss < 200e6, `rss ${rss}`);
    assert.ok(value('ezsync_uptime_seconds') > 0);
  });
});

test('secret rotation: the previous secret is accepted while it is set', async () => {
  const s = await startTracked({ secret: SECRET, previousSecret: OLD_SECRET });
  try {
    assert.equal((await deliver(s.public, { secret: OLD_SECRET })).status, 200);
    assert.equal((await deliver(s.public, { secret: SECRET })).status, 200);
    assert.equal((await deliver(s.public, { secret: 'a-third-secret' })).status, 401);
    assert.equal(eventCount(s.db), 2);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
  // Rotation over: the old secret no longer verifies.
  const s2 = await startTracked({ secret: SECRET, db: s.db, dir: s.dir });
  try {
    assert.equal((await deliver(s2.public, { secret: OLD_SECRET })).status, 401);
    assert.equal(eventCount(s2.db), 2);
  } finally {
    assert.equal((await s2.stop()).code, 0);
  }
});

test('a log that cannot be written answers 503, never 200, and readyz says why', async () => {
  // The intake log is where a 200 is made durable: on a device that takes no data, no
  // delivery may be acknowledged.
  const dir = mkdtempSync(join(tmpdir(), 'ezsync-e2e-'));
  symlinkSync('/dev/full', join(dir, 'ezsync.db-intake'));
  const s = await startTracked({ dir });
  try {
    const id = webhookId();
    const r = await deliver(s.public, { id });
    assert.equal(r.status, 503, r.body);
    assert.match(r.body, /store/);
    const ready = await admin(s, '/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.body, /^store: last commit failed: intake: cannot write .*ezsync\.db-intake: No space left on device/);
    assert.equal(eventCount(s.db), 0);
    assert.equal((await deliver(s.public, { id })).status, 503);   // Shopify's retry: still no
    assert.equal(eventCount(s.db), 0);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test('a database that cannot be written: deliveries are acknowledged from the log and reach events once it can', async () => {
  const s = await startTracked({});
  const locker = spawn('sqlite3', [s.db], { stdio: ['pipe', 'pipe', 'pipe'] });
  let lockOut = '';
  locker.stdout.on('data', (d) => { lockOut += d; });
  try {
    // Another process holds the write lock: moves into events fail, the log does not.
    locker.stdin.write("BEGIN EXCLUSIVE;\nSELECT 'locked';\n");
    await waitFor(() => lockOut.includes('locked'), { what: 'sqlite3 lock' });
    const id = webhookId();
    const r = await deliver(s.public, { id });
    assert.equal(r.status, 200, r.body);
    assert.doesNotMatch(r.body, /duplicate/);
    // Shopify's repeat while it waits in the log is a duplicate all the same.
    const again = await deliver(s.public, { id });
    assert.equal(again.status, 200);
    assert.match(again.body, /duplicate/);
    // Reported once the moves have failed for a while (5 s), not at the first busy lock.
    assert.equal((await admin(s, '/readyz')).status, 200);
    const ready = await waitFor(async () => {
      const q = await admin(s, '/readyz');
      return q.status === 503 ? q : null;
    }, { what: 'readyz to report the failing moves', timeout: 15000, interval: 200 });
    assert.match(ready.body, /^store: cannot move acknowledged deliveries into events: .*locked/);
    const status = JSON.parse((await admin(s, '/api/v1/status')).body);
    assert.equal(status.intake_pending, 1);
    locker.stdin.write('ROLLBACK;\n');
    await waitFor(() => eventCount(s.db) === 1, { what: 'the delivery to reach events' });
    assert.equal(sql(s.db, `SELECT count(*) AS n FROM events WHERE dedupe_key = '${id}'`)[0].n, 1);
    await waitFor(async () => (await admin(s, '/readyz')).status === 200, { what: 'readyz to recover' });
  } finally {
    locker.stdin.end('.quit\n');
    assert.equal((await s.stop()).code, 0);
  }
});

test('kill -9 after a burst: every acknowledged delivery is stored exactly once', async () => {
  const s = await startTracked({});
  const N = 500;
  const acked = [];
  let killed = false;
  const sends = [];
  for (let i = 0; i < N; i++) {
    const body = JSON.stringify({ id: 5000000000000000000n + BigInt(i) + 0n, seq: i }, (k, v) => (typeof v === 'bigint' ? Number(v) : v));
    sends.push(deliver(s.public, { body }).then((r) => {
      if (r.status === 200) acked.push({ id: r.id, body });
      // Kill while the rest of the burst is still in flight.
      if (!killed && acked.length >= N * 0.8) { killed = true; s.proc.kill('SIGKILL'); }
    }, () => {}));
  }
  await Promise.all(sends);
  if (!killed) s.proc.kill('SIGKILL');
  const { signal } = await s.exited;
  assert.equal(signal, 'SIGKILL');
  assert.ok(acked.length >= N * 0.8, `acked ${acked.length}`);
  // Each delivery was committed with its backlog entry, and the engine's jobs replace entries
  // in one transaction: the crash left every event with exactly one of the two (read before
  // the restart, which jobs the rest).
  const [state] = sql(s.db, `SELECT
      (SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = e.id)
         AND NOT EXISTS (SELECT 1 FROM backlog b WHERE b.event_id = e.id)) AS neither,
      (SELECT count(*) FROM events e WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = e.id)
         AND EXISTS (SELECT 1 FROM backlog b WHERE b.event_id = e.id)) AS both`);
  assert.deepEqual(state, { neither: 0, both: 0 });

  const s2 = await startTracked({ db: s.db, dir: s.dir });
  try {
    const rows = sql(s2.db, 'SELECT dedupe_key, CAST(body AS TEXT) AS body FROM events');
    const byKey = new Map();
    for (const row of rows) byKey.set(row.dedupe_key, (byKey.get(row.dedupe_key) ?? 0) + 1);
    for (const a of acked) assert.equal(byKey.get(a.id), 1, `acked ${a.id} stored once`);
    assert.equal(byKey.size, rows.length);
    assert.ok(rows.length <= N);
    // Shopify's retries of the acknowledged ones are duplicates now.
    const again = await deliver(s2.public, { id: acked[0].id, body: acked[0].body });
    assert.equal(again.status, 200);
    assert.equal(eventCount(s2.db), rows.length);
    // The restarted engine jobs what the crash left in the backlog: one job per event.
    await waitFor(() => sql(s2.db, 'SELECT count(*) AS n FROM backlog')[0].n === 0,
                  { what: 'the backlog to be jobbed' });
    assert.equal(sql(s2.db, 'SELECT count(DISTINCT event_id) AS n FROM jobs')[0].n, rows.length);
    assert.equal(sql(s2.db, 'SELECT count(*) AS n FROM jobs')[0].n, rows.length);
  } finally {
    assert.equal((await s2.stop()).code, 0);
  }
});

test('a second ezsync on the same store refuses to start, naming the intake log', async () => {
  const s = await startTracked({});
  try {
    await assert.rejects(start({ db: s.db, dir: s.dir }),
      /intake: .*ezsync\.db-intake is in use by another process .*is another ezsync serving this store\?/);
    assert.equal((await deliver(s.public, {})).status, 200);   // the first one goes on
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test('kill -9 while acknowledged deliveries wait in the intake log: the restart stores each once', async () => {
  const s = await startTracked({});
  const locker = spawn('sqlite3', [s.db], { stdio: ['pipe', 'pipe', 'pipe'] });
  let lockOut = '';
  locker.stdout.on('data', (d) => { lockOut += d; });
  // The database is locked throughout: every acknowledgement rests on the log alone.
  locker.stdin.write("BEGIN EXCLUSIVE;\nSELECT 'locked';\n");
  await waitFor(() => lockOut.includes('locked'), { what: 'sqlite3 lock' });
  const N = 200;
  const acked = [];
  await Promise.all(Array.from({ length: N }, (_, i) => {
    const body = JSON.stringify({ id: 7000 + i, note: `Zürich ☕ ${i}` });
    return deliver(s.public, { body }).then((r) => { if (r.status === 200) acked.push({ id: r.id, body }); });
  }));
  assert.equal(acked.length, N);
  s.proc.kill('SIGKILL');
  assert.equal((await s.exited).signal, 'SIGKILL');
  locker.stdin.end('ROLLBACK;\n.quit\n');
  await new Promise((resolve) => locker.on('exit', resolve));
  assert.equal(eventCount(s.db), 0);

  const s2 = await startTracked({ db: s.db, dir: s.dir });
  try {
    const rows = sql(s2.db, 'SELECT dedupe_key, CAST(body AS TEXT) AS body FROM events');
    const byKey = new Map(rows.map((r) => [r.dedupe_key, r.body]));
    assert.equal(rows.length, N);
    for (const a of acked) assert.equal(byKey.get(a.id), a.body, `acked ${a.id} stored, byte-exact`);
    assert.match(s2.logs(), /moved acknowledged deliveries the last run left in the intake log into events" deliveries=200/);
    // A retry of one of them is a duplicate; the log starts over empty.
    const again = await deliver(s2.public, { id: acked[0].id, body: acked[0].body });
    assert.match(again.body, /duplicate/);
    assert.equal(JSON.parse((await admin(s2, '/api/v1/status')).body).intake_pending, 0);
  } finally {
    assert.equal((await s2.stop()).code, 0);
  }
});

test('SIGTERM during a burst: in-flight deliveries finish, exit 0, acked ones stored', async () => {
  const s = await startTracked({});
  const acked = [];
  let termed = false;
  const sends = [];
  for (let i = 0; i < 200; i++) {
    sends.push(deliver(s.public).then((r) => {
      if (r.status === 200) acked.push(r.id);
      if (!termed && acked.length >= 50) { termed = true; s.proc.kill('SIGTERM'); }
    }, () => {}));
  }
  await Promise.all(sends);
  const { code } = await s.exited;
  assert.equal(code, 0, s.logs());
  const keys = new Set(sql(s.db, 'SELECT dedupe_key FROM events').map((r) => r.dedupe_key));
  for (const id of acked) assert.ok(keys.has(id), `acked ${id} stored`);
  assert.match(s.logs(), /msg=stopping signal=TERM/);
});

test('without an admin token the admin listener stays off and the log says why', async () => {
  const s = await startTracked({ adminToken: null });
  try {
    assert.equal(s.info.admin, null);
    assert.match(s.logs(), /admin listener not started: server\.admin_token is not set/);
    assert.equal((await deliver(s.public)).status, 200);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test('listening lines name both listeners with their real ports', async () => {
  const s = await startTracked({});
  try {
    assert.match(s.logs(), new RegExp(`msg=listening name=public addr=${s.info.public}`));
    assert.match(s.logs(), new RegExp(`msg=listening name=admin addr=${s.info.admin}`));
    assert.notEqual(s.public.port, 0);
  } finally {
    await s.stop();
  }
});

test('no secret appears in any log line', () => {
  assert.ok(servers.length >= 5);
  for (const s of servers) {
    const logs = s.logs();
    for (const secret of [SECRET, OLD_SECRET, ADMIN_TOKEN])
      assert.ok(!logs.includes(secret), `a secret leaked into the log of ${s.dir}`);
  }
  for (const s of servers) s.cleanup();
});
