import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { advance, check, contactProperties, cursorText, parseConfig, parseCursor } from '../src/hubspot.js';

const sample = parseConfig(readFileSync(new URL('../config.toml', import.meta.url)));
const answer = (status, headers = []) => ({ status, headers, body: new TextEncoder().encode('{"message":"no"}') });
const tagOf = (f) => {
  try {
    f();
  } catch (e) {
    return e.tag === 'rate-limited' ? `${e.tag} ${e.val}` : e.tag;
  }
};

test('hubspot answers become the contract records and errors', () => {
  assert.equal(sample.page_size, 100);
  assert.deepEqual(
    [401, 403, 400, 503].map((s) => tagOf(() => check('POST', '/x', answer(s)))),
    ['unauthorized', 'unauthorized', 'invalid', 'unavailable'],
  );
  assert.equal(tagOf(() => check('POST', '/x', answer(429, [['retry-after', '7']]))), 'rate-limited 7');
  const name = { name: 'name', value: { tag: 'text', val: 'Ada Lee' } };
  assert.deepEqual(contactProperties({ fields: [name] }), { firstname: 'Ada', lastname: 'Lee' });
  const contact = { id: '1001', properties: { firstname: 'Ada', lastmodifieddate: '2019-10-30T03:30:17.883Z' } };
  const { records, next } = advance(parseCursor(''), [contact]);
  assert.equal(records[0].updatedAt, 1572406217883n);
  assert.equal(cursorText(next), '1572406217883:1001');
  assert.equal(advance(parseCursor(cursorText(next)), [contact]).records.length, 0);
});

test('a malformed config is an error that says so', () => {
  assert.equal(tagOf(() => parseConfig(new TextEncoder().encode('page_size = 500'))), 'invalid');
});
