import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ConfigError, parseConfig, tagsFor } from '../src/rules.js';

const sample = parseConfig(readFileSync(new URL('../config.toml', import.meta.url)));

test('the sample config tags a refund request', () => {
  assert.deepEqual(tagsFor(sample, 'I want my MONEY BACK'), ['refund']);
  assert.deepEqual(tagsFor(sample, 'hello'), []);
});

test('a malformed config is an error that says so', () => {
  assert.throws(() => parseConfig(new TextEncoder().encode('rules = 3')), ConfigError);
});
