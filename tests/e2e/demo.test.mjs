// `make demo` is a promise in the README: its script must run the whole thing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ROOT } from './lib.mjs';

test('the demo starts everything, syncs its orders and shows them', () => {
  const r = spawnSync(`${ROOT}/scripts/demo`, [], { encoding: 'utf8', timeout: 150000,
    env: { ...process.env, DEMO_ONESHOT: '1', DEMO_ORDERS: '12' } });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /12\/12 orders in OrderEZ after/);
  assert.match(r.stdout, /A few of them in OrderEZ:\n  #\d+ +Shopify order \d+ +outlet "/);
  assert.match(r.stdout, /"dead":0/);
  assert.match(r.stdout, /http:\/\/127\.0\.0\.1:\d+\/api\/v1\/status/);
});
