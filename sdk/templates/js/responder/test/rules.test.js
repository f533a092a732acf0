import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { actionsFor, ConfigError, parseConfig } from '../src/rules.js';

const sample = parseConfig(readFileSync(new URL('../config.toml', import.meta.url)));

test('the sample config answers a refund request', () => {
  const actions = actionsFor(sample, 'I want my MONEY BACK');
  assert.deepEqual(actions[0], { tag: 'tag', val: 'refund' });
  assert.equal(actions[1].tag, 'reply');
  assert.deepEqual(actionsFor(sample, 'hello'), []);
});

test('a malformed config is an error that says so', () => {
  assert.throws(() => parseConfig(new TextEncoder().encode('rules = 3')), ConfigError);
});
