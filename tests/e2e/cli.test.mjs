// End-to-end: the real ezsync binary's command line (exit codes, messages, version, secrets).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, spawn, execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { start } from './lib.mjs';

const BIN = process.env.EZSYNC_BIN || path.resolve('ezsync');
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const SECRETS = {
  EZSYNC_ADMIN_TOKEN: 'adm-tok-9f8e7d6c5b4a',
  SHOPIFY_ACCESS_TOKEN: 'shpat_cli_e2e_0123456789',
  SHOPIFY_WEBHOOK_SECRET: 'shpss_cli_e2e_secret_value',
  ORDEREZ_TOKEN: 'oez-cli-e2e-token-abcdef',
};

function run(args, opts = {}) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', cwd: opts.cwd || ROOT,
    env: { ...process.env, ...(opts.env || {}) }, timeout: 20000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function tmpdir() { return fs.mkdtempSync(path.join(os.tmpdir(), 'ezsync-cli-')); }

test('version prints the git version', () => {
  const r = run(['version']);
  assert.equal(r.code, 0);
  const described = execSync('git describe --tags --always --dirty', { cwd: ROOT, encoding: 'utf8' }).trim();
  // The binary was built from this tree; a commit made since the build would differ, so
  // compare the commit part only.
  const hash = described.match(/[0-9a-f]{7,}/)[0];
  assert.match(r.out, /^ezsync \S+\n$/);
  assert.ok(r.out.includes(hash.slice(0, 7)), `${r.out} should name ${hash}`);
});

test('check exits 0 on the example config when its env vars are set', () => {
  const r = run(['check', '-c', 'ezsync.conf.lua'], { env: SECRETS });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /configuration ok/);
});

test('check names a missing environment variable and exits 2', () => {
  const env = { ...SECRETS };
  delete env.ORDEREZ_TOKEN;
  const r = spawnSync(BIN, ['check', '-c', 'ezsync.conf.lua'], { encoding: 'utf8', cwd: ROOT,
    env: Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([k]) => k !== 'ORDEREZ_TOKEN')) });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /environment variable ORDEREZ_TOKEN is not set/);
});

test('a misspelt key exits 2 naming it and the nearest valid key', () => {
  const d = tmpdir();
  fs.writeFileSync(path.join(d, 'bad.lua'), 'return { server = { admin_lisen = "127.0.0.1:1" } }');
  const r = run(['check', '-c', path.join(d, 'bad.lua')]);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown key 'server\.admin_lisen' \(did you mean 'server\.admin_listen'\?\)/);
});

test('check --print never shows a secret', () => {
  const r = run(['check', '-c', 'ezsync.conf.lua', '--print'], { env: SECRETS });
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /shopify\.webhook_secret = \(set\)/);
  for (const v of Object.values(SECRETS)) {
    assert.ok(!r.out.includes(v) && !r.err.includes(v), 'secret leaked');
  }
});

test('usage errors exit 2; --help exits 0 for every command', () => {
  assert.equal(run([]).code, 2);
  assert.equal(run(['frobnicate']).code, 2);
  assert.equal(run(['check', '--bogus']).code, 2);
  assert.equal(run(['check', 'extra']).code, 2);
  const help = run(['help']);
  assert.equal(help.code, 0);
  const cmds = [...help.out.matchAll(/^  (\S+)\s/gm)].map((m) => m[1]);
  assert.ok(cmds.includes('serve') && cmds.includes('check') && cmds.includes('version'));
  for (const c of cmds) {
    const r = run([c, '--help']);
    assert.equal(r.code, 0, c);
    assert.match(r.out, /usage: ezsync/);
  }
  const hc = run(['help', 'config']);
  assert.equal(hc.code, 0);
  assert.match(hc.out, /shopify\.webhook_secret/);
});

test('serve on a corrupt database exits 1 with a clear error', () => {
  const d = tmpdir();
  fs.writeFileSync(path.join(d, 'bad.db'), 'x'.repeat(8192));
  fs.writeFileSync(path.join(d, 'c.lua'),
    `return { store = { path = ${JSON.stringify(path.join(d, 'bad.db'))} },
              server = { listen = "127.0.0.1:0", admin_listen = "127.0.0.1:0" } }`);
  const r = run(['serve', '-c', path.join(d, 'c.lua')]);
  assert.equal(r.code, 1);
  assert.match(r.err, /not a database/);
});

test('serve stops cleanly on SIGTERM with exit 0', async () => {
  const svc = await start();
  try {
    const { code } = await svc.stop('SIGTERM');
    assert.equal(code, 0, svc.logs());
    assert.match(svc.logs(), /ezsync stopped/);
  } finally {
    svc.cleanup();
  }
});

test('serve without the Shopify or OrderEZ settings exits 2 naming them', () => {
  const d = tmpdir();
  fs.writeFileSync(path.join(d, 'c.lua'),
    `return { store = { path = ${JSON.stringify(path.join(d, 'x.db'))} }, rules = { dir = ${JSON.stringify(path.join(ROOT, 'rules'))} },
              server = { listen = "127.0.0.1:0", admin_listen = "127.0.0.1:0" } }`);
  const r = run(['serve', '-c', path.join(d, 'c.lua')]);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /shopify\.access_token/);
});

test('README configuration reference matches the option table', () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const block = readme.split('<!-- CONFIG-REFERENCE:BEGIN')[1].split('<!-- CONFIG-REFERENCE:END')[0];
  const help = run(['help', 'config']).out;
  assert.ok(block.includes(help.trim()), 'README is stale: run scripts/gen-config-doc');
});

test('make install puts binary, rules, example config and a systemd unit under DESTDIR', () => {
  const dest = tmpdir();
  const r = spawnSync('make', ['-s', 'install', `DESTDIR=${dest}`, 'PREFIX=/usr'], { cwd: ROOT, encoding: 'utf8',
    // a plain build, also when the suite runs under `make asan` (whose settings travel in MAKEFLAGS)
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL', 'SAN', 'BUILD'].includes(k))) });
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['usr/bin/ezsync', 'usr/share/ezsync/rules/orders.lua', 'usr/share/ezsync/rules/lib/orderez.lua',
    'usr/share/ezsync/ezsync.conf.lua.example', 'usr/lib/systemd/system/ezsync.service']) {
    assert.ok(fs.existsSync(path.join(dest, f)), f);
  }
  const unit = fs.readFileSync(path.join(dest, 'usr/lib/systemd/system/ezsync.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/ezsync serve -c \/etc\/ezsync\/ezsync\.conf\.lua$/m);
  const v = spawnSync(path.join(dest, 'usr/bin/ezsync'), ['version'], { encoding: 'utf8' });
  assert.equal(v.status, 0);
});

test('dry-run counts skipped events the same in every report mode', () => {
  const d = tmpdir();
  const rules = path.join(d, 'rules');
  fs.mkdirSync(path.join(rules, 'lib'), { recursive: true });
  // a result that says "skipped" only as a value is not a skipped event
  fs.writeFileSync(path.join(rules, 'modes.lua'), `return { on = { ["shopify/orders/create"] = function(e)
  local mode = e.payload.mode
  if mode == "skip" then return { skipped = "test order" } end
  if mode == "note" then return { note = "skipped", nested = { skipped = true } } end
  return { synced = "1" }
end } }
`);
  const modes = ['skip', 'note', 'sync', 'skip', 'sync', 'skip'];
  const rec = path.join(d, 'rec.jsonl');
  fs.writeFileSync(rec, modes.map((mode, i) => JSON.stringify({
    event: { id: i + 1, source: 'shopify', topic: 'orders/create', body: JSON.stringify({ id: i + 1, mode }) },
    calls: [] })).join('\n') + '\n');
  for (const args of [['--quiet'], ['--diff', '--quiet'], ['--diff'], []]) {
    const r = spawnSync(BIN, ['dry-run', '--events', rec, '--rules', rules, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /6 event\(s\): 6 done \(3 skipped\), 0 failed/, `${args.join(' ')}\n${r.stdout}`);
  }
  const j = spawnSync(BIN, ['dry-run', '--events', rec, '--rules', rules, '--json'], { encoding: 'utf8' });
  assert.equal(j.status, 0, j.stderr);
  const out = j.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(out.pop().summary.skipped, 3);
  assert.deepEqual(out.map((e) => e.result), [{ skipped: 'test order' }, { note: 'skipped', nested: { skipped: true } },
    { synced: '1' }, { skipped: 'test order' }, { synced: '1' }, { skipped: 'test order' }]);
});
