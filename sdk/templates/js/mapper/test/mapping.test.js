import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { changesFrom, ConfigError, contactRecord, parseConfig } from '../src/mapping.js';

const sample = parseConfig(readFileSync(new URL('../config.toml', import.meta.url)));

test('the sample config maps a contact and reads its CRM record back', () => {
  const mapped = contactRecord(sample, { id: 7n, name: 'Mario Rossi', phone: '+393471234567' });
  assert.equal(mapped.record.object, 'contact');
  assert.deepEqual(mapped.defaulted, ['customer_level']);
  const changes = changesFrom(sample, {
    object: 'contact',
    id: '101',
    fields: [
      { name: 'name', value: { tag: 'text', val: 'Mario Rossi' } },
      { name: 'customer_level', value: { tag: 'text', val: 'Gold' } },
      { name: 'lifecyclestage', value: { tag: 'text', val: 'lead' } },
    ],
  });
  assert.equal(changes.name, 'Mario Rossi');
  assert.equal(changes.phone, undefined);
  assert.deepEqual(changes.fields.map((f) => f.name), ['customer_level']);
});

test('a malformed config is an error that says so', () => {
  assert.throws(() => parseConfig(new TextEncoder().encode('pull_fields = 3')), ConfigError);
});
