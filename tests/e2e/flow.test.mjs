// The first flow end to end, on real processes: a flash sale in the Shopify simulator reaches
// the OrderEZ simulator through ezsync exactly once per order; then a recording of that traffic
// is replayed with an edited rule, and the dry run shows the difference while changing nothing
// anywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { start, sql, waitFor, admin, ROOT, BIN, ACCESS_TOKEN, ORDEREZ_TOKEN, SECRET, ADMIN_TOKEN } from './lib.mjs';
import { shopifySim, orderezSim, ctl, subscribe } from './sims.mjs';

const N = 1000;
let shop, oez, svc;

before(async () => {
  shop = await shopifySim(['--plan', 'plus']);
  oez = await orderezSim(['--rate', '400', '--burst', '100']);
  svc = await start({ shopifyUrl: shop.url, orderezUrl: oez.url, orderezRate: 400, orderezBurst: 100,
    shopifyRestore: 1000, logLevel: 'warn' });
  await subscribe(shop, `http://${svc.info.public}/webhooks/shopify`);
});

after(async () => {
  await svc?.stop();
  await shop?.stop();
  await oez?.stop();
  svc?.cleanup();
});

// Work outstanding: jobs waiting or running, and deliveries still in the backlog.
const jobsPending = () => sql(svc.db,
  "SELECT (SELECT count(*) FROM jobs WHERE state IN ('queued','running','retry_wait'))"
  + ' + (SELECT count(*) FROM backlog) AS n')[0].n;

test(`a flash sale of ${N} orders reaches OrderEZ exactly once, with lines, outlets and links`, async () => {
  const sale = await ctl(shop.url, '/_sim/orders', { count: N });
  assert.equal(sale.orders.length, N);
  await ctl(shop.url, '/_sim/webhooks/flush?timeoutMs=60000', {});
  await waitFor(async () => {
    const events = sql(svc.db, "SELECT count(*) AS n FROM events WHERE topic = 'orders/create'")[0].n;
    return events === N && jobsPending() === 0;
  }, { timeout: 150000, interval: 250, what: 'the sale to drain' });

  const dead = sql(svc.db, "SELECT id, topic, last_error FROM jobs WHERE state = 'dead'");
  assert.deepEqual(dead, [], 'no job dead-lettered');

  const ostate = await ctl(oez.url, '/_sim/state');
  const sstate = await ctl(shop.url, '/_sim/state');
  const byRef = new Map();
  for (const o of ostate.orders) {
    assert.ok(!byRef.has(o.externalRef), `duplicate OrderEZ order for ${o.externalRef}`);
    byRef.set(o.externalRef, o);
  }
  assert.equal(ostate.orders.length, N, 'exactly one OrderEZ order per Shopify order');

  const saleIds = new Set(sale.orders.map((o) => o.id));
  const outletOf = new Map();
  for (const so of sstate.orders.filter((o) => saleIds.has(o.id))) {
    const oo = byRef.get(so.id);
    assert.ok(oo, `order ${so.name} missing in OrderEZ`);
    // lines: same SKUs and quantities
    const want = so.lineItems.map((l) => `${l.sku}x${l.quantity}`).sort();
    const got = oo.lineItems.map((l) => `${l.sku}x${l.quantity}`).sort();
    assert.deepEqual(got, want, `lines of ${so.name}`);
    // one outlet per customer
    const cust = so.customer?.id ?? so.customerId ?? so.email;
    if (outletOf.has(cust)) assert.equal(oo.outletId, outletOf.get(cust), `customer ${cust} has two outlets`);
    outletOf.set(cust, oo.outletId);
    // written back: metafield and tag with the OrderEZ id
    const mf = (so.metafields ?? []).find((m) => m.namespace === 'ezsync' && m.key === 'orderez_order_id');
    assert.equal(mf?.value, String(oo.id), `metafield on ${so.name}`);
    assert.ok((so.tags ?? []).includes(`orderez:${oo.id}`), `tag on ${so.name}`);
  }
  const customers = new Set(outletOf.keys());
  const created = ostate.outlets.filter((o) => o.externalRef?.startsWith('gid://shopify/Customer/'));
  assert.ok(created.length <= customers.size, `outlets de-duplicated: ${created.length} for ${customers.size} customers`);

  // the ID map is complete: every order, every line, every customer
  const count = (kind) => sql(svc.db, `SELECT count(*) AS n FROM idmap WHERE kind = '${kind}'`)[0].n;
  assert.equal(count('order'), N);
  const lines = ostate.orders.reduce((n, o) => n + o.lineItems.length, 0);
  assert.equal(count('line'), lines);
  assert.equal(count('customer'), customers.size);
});

test('record, then dry-run an edited rule: the expected differences, and no side effect anywhere', async () => {
  const env = { ...process.env, SHOPIFY_WEBHOOK_SECRET: SECRET, SHOPIFY_ACCESS_TOKEN: ACCESS_TOKEN,
    ORDEREZ_TOKEN, EZSYNC_ADMIN_TOKEN: ADMIN_TOKEN };
  const rec = join(svc.dir, 'rec.jsonl');
  const r = spawnSync(BIN, ['record', '-c', join(svc.dir, 'ezsync.conf.lua'), '--out', rec], { env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = readFileSync(rec, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const creates = lines.filter((l) => l.event.topic === 'orders/create');
  assert.equal(creates.length, N);
  assert.ok(creates.every((l) => l.job?.state === 'done' && l.calls.length >= 2));

  // what the remotes and the database saw before the dry runs
  const oezBefore = (await ctl(oez.url, '/_sim/requests?since=0')).requests.length;
  const shopBefore = (await ctl(shop.url, '/_sim/requests?since=0')).requests.length;
  const dbBefore = { events: sql(svc.db, 'SELECT count(*) AS n FROM events')[0].n,
    jobs: sql(svc.db, 'SELECT count(*) AS n FROM jobs')[0].n, idmap: sql(svc.db, 'SELECT count(*) AS n FROM idmap')[0].n };

  // unchanged rules: exactly what was done
  const golden = join(svc.dir, 'golden.jsonl');
  const same = spawnSync(BIN, ['dry-run', '--events', rec, '--rules', join(ROOT, 'rules'), '--json'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(same.status, 0, same.stderr);
  writeFileSync(golden, same.stdout);
  const summary = JSON.parse(same.stdout.trim().split('\n').pop()).summary;
  assert.equal(summary.events, lines.length);
  const failed = same.stdout.split('\n').filter((l) => l.includes('"status":"error"')).slice(0, 3);
  assert.equal(summary.failed, 0, failed.join('\n'));
  assert.equal(summary.unanswered, 0);
  // --json shows each event's state writes (a quiet run does not trace them)
  const firstDone = same.stdout.split('\n').find((l) => l.includes('"status":"done"'));
  assert.match(firstDone, /"writes":\[\{[^\]]*"what":"idmap\.put"/);
  const diff0 = spawnSync(BIN, ['dry-run', '--events', rec, '--rules', join(ROOT, 'rules'), '--diff', '--quiet'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(diff0.status, 0, diff0.stderr);
  assert.match(diff0.stdout, /\n0 event\(s\) would make different calls than recorded/);
  // the timing line: the wall time, and the CPU the rules thread and the whole run took
  const timing = diff0.stderr.match(/dry-run: (\d+) events in ([\d.]+) s \(\d+ events\/s\); CPU ([\d.]+) s, the rules thread ([\d.]+) s/);
  assert.ok(timing, diff0.stderr);
  assert.equal(Number(timing[1]), summary.events);
  assert.ok(Number(timing[4]) > 0 && Number(timing[4]) <= Number(timing[3]), timing[0]);

  // the edit: another tag prefix and one more day before delivery
  const edited = join(svc.dir, 'rules-edited');
  cpSync(join(ROOT, 'rules'), edited, { recursive: true });
  const src = readFileSync(join(edited, 'orders.lua'), 'utf8');
  writeFileSync(join(edited, 'orders.lua'), src.replace('tag_prefix = "orderez:"', 'tag_prefix = "oez-"')
    .replace('delivery_days = 2,', 'delivery_days = 3,'));
  const d = spawnSync(BIN, ['dry-run', '--events', rec, '--rules', edited, '--diff'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(d.status, 0, d.stderr);
  assert.match(d.stdout, new RegExp(`\\n${N} event\\(s\\) would make different calls than recorded`));
  assert.match(d.stdout, /~ shopify mutation OrderWriteback\n\s+variables\.tags\[0\]: "orderez:(\d+)" -> "oez-\1"/);
  assert.match(d.stdout, /~ orderez POST \/distributor\/orders\n\s+requestedDeliveryDate: "(\d{4}-\d\d-\d\d)" -> "\d{4}-\d\d-\d\d"/);
  // --expect: the golden file passes with the rules it was made with, fails with the edit
  const ok = spawnSync(BIN, ['dry-run', '--events', rec, '--rules', join(ROOT, 'rules'), '--expect', golden], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(ok.status, 0, ok.stdout);
  const bad = spawnSync(BIN, ['dry-run', '--events', rec, '--rules', edited, '--expect', golden], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(bad.status, 1);
  assert.match(bad.stdout, /expect: FAILED \(\d+ differences\)/);

  // A slow rule: every event runs unmetered (no instruction hook), passes its time bound after
  // all its calls and writes (a budget of 10^6 allows 100 us of Lua; the loop is 600k
  // instructions) and runs again metered, its writes undone: the golden file still holds, each
  // call and write once. A runaway event is stopped and killed at the budget.
  const slow = join(svc.dir, 'rules-slow');
  cpSync(join(ROOT, 'rules'), slow, { recursive: true });
  const conf = join(svc.dir, 'budget.conf.lua');
  writeFileSync(conf, 'return { rules = { instruction_budget = 1000000 } }\n');
  assert.ok(src.includes('  return { synced = id }\n'));
  writeFileSync(join(slow, 'orders.lua'), src
    .replace('  return { synced = id }\n', '  local n = 0\n  for _ = 1, 300000 do n = n + 1 end\n  return { synced = id }\n'));
  const s1 = spawnSync(BIN, ['dry-run', '--events', rec, '--rules', slow, '-c', conf, '--expect', golden], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(s1.status, 0, s1.stdout);
  // each sale's event at least (another may pass 100 us on a busy machine too)
  const reruns = (err) => Number((err.match(/; (\d+) run again metered\n/) || [0, 0])[1]);
  assert.ok(reruns(s1.stderr) >= N, s1.stderr);
  const first = JSON.parse(creates[0].event.body).name;
  writeFileSync(join(slow, 'orders.lua'), src.replace('  local o = event.payload\n',
    `  local o = event.payload\n  if o.name == ${JSON.stringify(first)} then while true do end end\n`));
  const s2 = spawnSync(BIN, ['dry-run', '--events', rec, '--rules', slow, '--json'], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(s2.status, 0, s2.stderr);
  const out2 = s2.stdout.trim().split('\n').map((l) => JSON.parse(l));
  // the order's create, and its updates that carry a name
  const runaway = lines.filter((l) => /^orders\/(create|updated)$/.test(l.event.topic) &&
    JSON.parse(l.event.body).name === first).map((l) => l.event.id);
  const killed = out2.filter((e) => e.status === 'killed');
  assert.deepEqual(killed.map((e) => e.event), runaway);
  assert.ok(runaway.includes(creates[0].event.id));
  for (const k of killed) assert.match(k.error, /instruction budget of 10000000 exhausted/);
  // (later events of that customer fail too: the outlet link event 1 made is missing)
  assert.ok(out2.pop().summary.failed >= runaway.length);
  assert.ok(reruns(s2.stderr) >= runaway.length, s2.stderr);

  // nothing happened anywhere
  assert.equal((await ctl(oez.url, '/_sim/requests?since=0')).requests.length, oezBefore, 'no OrderEZ request');
  assert.equal((await ctl(shop.url, '/_sim/requests?since=0')).requests.length, shopBefore, 'no Shopify request');
  assert.deepEqual({ events: sql(svc.db, 'SELECT count(*) AS n FROM events')[0].n,
    jobs: sql(svc.db, 'SELECT count(*) AS n FROM jobs')[0].n, idmap: sql(svc.db, 'SELECT count(*) AS n FROM idmap')[0].n }, dbBefore);
});

test('bad recordings are refused with a message naming the line', () => {
  const bad = join(svc.dir, 'bad.jsonl');
  writeFileSync(bad, '{"event":{"id":1,"source":"shopify","topic":"orders/create","body":"{}"},"calls":[]}\nnot json\n');
  const r = spawnSync(BIN, ['dry-run', '--events', bad, '--rules', join(ROOT, 'rules')], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.jsonl:2: /);
  writeFileSync(bad, '{"event":{"id":1,"source":"shopify","topic":"orders/create"}}\n');
  const r2 = spawnSync(BIN, ['dry-run', '--events', bad, '--rules', join(ROOT, 'rules')], { encoding: 'utf8' });
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /:1: event needs string source, topic and body/);
  const r3 = spawnSync(BIN, ['dry-run', '--events', join(svc.dir, 'nope.jsonl')], { encoding: 'utf8' });
  assert.equal(r3.status, 2);
  assert.match(r3.stderr, /cannot read .*nope\.jsonl/);
});

test('the admin API lists jobs, retries a dead one and reloads rules', async () => {
  const jobs = JSON.parse((await admin(svc, '/api/v1/jobs?state=done&limit=5')).body);
  assert.equal(jobs.length, 5);
  assert.equal((await admin(svc, '/api/v1/jobs?state=bogus')).status, 400);
  assert.equal((await admin(svc, '/api/v1/jobs/999999/retry', { method: 'POST' })).status, 404);
  const rl = await admin(svc, '/api/v1/reload', { method: 'POST' });
  assert.equal(rl.status, 200, rl.body);
  assert.equal(JSON.parse(rl.body).ok, true);
  const status = JSON.parse((await admin(svc, '/api/v1/status')).body);
  assert.equal(status.jobs.dead, 0);
  assert.ok(status.remotes.orderez.admitted > 0);
  void statSync;
});

test('the dashboard: a browser gets a Basic challenge, then the page and its data', async () => {
  const base = `http://${svc.info.admin}`;
  const anon = await fetch(`${base}/`);
  assert.equal(anon.status, 401);
  assert.match(anon.headers.get('www-authenticate'), /^Basic realm="ezsync admin"/);
  const basic = { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` };
  const wrong = { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` };
  assert.equal((await fetch(`${base}/`, { headers: wrong })).status, 401);
  assert.equal((await fetch(`${base}/`, { headers: { authorization: 'Basic !!!' } })).status, 401);
  const page = await fetch(`${base}/`, { headers: basic });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type'), /^text\/html/);
  const html = await page.text();
  assert.match(html, /<title>ezsync<\/title>/);
  for (const p of ['/api/v1/status', '/api/v1/jobs?state=dead&limit=50', '/api/v1/reload']) assert.ok(html.includes(p), p);
  const st = await fetch(`${base}/api/v1/status`, { headers: basic });
  assert.equal(st.status, 200);
  const status = await st.json();
  assert.equal(status.jobs.dead, 0);
  // Every figure the page shows is in the status it reads.
  for (const k of ['intake_pending', 'backlog']) {
    assert.ok(html.includes(`s.${k}`), k);
    assert.equal(typeof status[k], 'number', k);
  }
});
