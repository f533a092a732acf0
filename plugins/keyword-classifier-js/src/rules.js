// Rule parsing and matching, independent of the WIT bindings so that it runs under
// plain node too. A port of plugins/keyword-classifier/src/rules.rs: same config
// format, same matching, same error texts where they matter.

import { isAlphanumeric } from './alphanumeric.js';
import { parse as parseToml, TomlError } from 'smol-toml';

const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const CONFIG_FIELDS = ['defaults', 'rules'];
const RULE_FIELDS = ['tag', 'keywords', 'regex', 'priority', 'intent'];

/** Why the configuration cannot be used; the message says where. */
export class ConfigError extends Error {}

/**
 * Builds the rule set from the raw binding configuration (empty: built-ins).
 * @param {Uint8Array} raw
 * @returns {Rule[]}
 * @throws {ConfigError}
 */
export function ruleSetFromConfig(raw) {
  const config = parseConfig(raw) ?? { defaults: true, rules: [] };
  const rules = config.defaults ? builtin() : [];
  config.rules.forEach((rule, i) => {
    try {
      rules.push(compile(rule));
    } catch (e) {
      throw new ConfigError(`rules[${i}]: ${e.message}`);
    }
  });
  return rules;
}

/**
 * Applies every rule to `text`; each matching rule adds its tag once. The first
 * matching rule gives the intent; the highest priority of the matches wins.
 * @param {Rule[]} rules
 * @param {string} text
 */
export function classifyText(rules, text) {
  const hay = normalise(text);
  const out = { tags: [], intent: undefined, entities: [], sentiment: undefined, priority: undefined };
  for (const rule of rules) {
    const hit =
      rule.keywords.some((k) => containsAtWordStart(hay, k)) ||
      (rule.regex !== undefined && rule.regex.test(hay));
    if (!hit) continue;
    if (!out.tags.includes(rule.tag)) out.tags.push(rule.tag);
    if (out.intent === undefined) out.intent = { name: rule.intent, confidence: 1.0 };
    if (
      rule.priority !== undefined &&
      (out.priority === undefined || PRIORITIES.indexOf(rule.priority) > PRIORITIES.indexOf(out.priority))
    ) {
      out.priority = rule.priority;
    }
  }
  return out;
}

/**
 * @typedef {{ tag: string, intent: string, keywords: string[], regex?: RegExp, priority?: string }} Rule
 */

function builtin() {
  const rule = (tag, keywords, priority) => ({
    tag,
    intent: tag,
    keywords: keywords.map(normalise),
    regex: undefined,
    priority,
  });
  return [
    rule('price-inquiry', ['how much', 'quanto costa', 'quanto costano', 'price', 'prezzo']),
    rule('order-status', [
      'where is my order',
      "where's my order",
      "dov'è il mio pacco",
      'dove è il mio pacco',
      "dov'è il mio ordine",
    ]),
    rule('complaint', ['complaint', 'reclamo', 'refund', 'rimborso'], 'high'),
    rule('purchase-intent', [
      'voglio acquistare',
      'vorrei acquistare',
      'voglio comprare',
      'vorrei comprare',
      'voglio ordinare',
      'vorrei ordinare',
      'i want to buy',
      "i'd like to buy",
      'i would like to buy',
      'i want to order',
      "i'd like to order",
      'i would like to order',
      'i want to purchase',
      "i'd like to purchase",
      'i would like to purchase',
    ]),
    rule('discount-inquiry', [
      'sconto',
      'sconti',
      'scontat',
      'scontistica',
      'codice promo',
      'promozione',
      'promozioni',
      'discount',
      'coupon',
      'promo code',
      'voucher',
    ]),
  ];
}

// JSON when the text starts with `{`, TOML otherwise; undefined when empty.
function parseConfig(raw) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch (e) {
    throw new ConfigError(`config is not UTF-8: ${e.message}`);
  }
  const trimmed = text.trimStart();
  if (trimmed === '') return undefined;
  if (trimmed.startsWith('{')) {
    let doc;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`invalid JSON config: ${e.message}`);
    }
    return checkConfig(doc, 'JSON');
  }
  let doc;
  try {
    doc = parseToml(text);
  } catch (e) {
    // smol-toml's message goes on with a code frame; its first line and the
    // position are what the binding's error needs.
    if (e instanceof TomlError) {
      const why = e.message.split('\n')[0];
      throw new ConfigError(`invalid TOML config: ${why} (line ${e.line}, column ${e.column})`);
    }
    throw e;
  }
  return checkConfig(doc, 'TOML');
}

// Checks the document's shape like the Rust plugin's serde structs
// (`deny_unknown_fields`, optional fields may be null in JSON).
function checkConfig(doc, format) {
  const fail = (what) => {
    throw new ConfigError(`invalid ${format} config: ${what}`);
  };
  if (!isObject(doc)) fail(`expected a table, found ${describe(doc)}`);
  denyUnknown(doc, CONFIG_FIELDS, fail);
  const config = { defaults: true, rules: [] };
  if ('defaults' in doc) {
    if (typeof doc.defaults !== 'boolean') fail(`\`defaults\`: expected a boolean, found ${describe(doc.defaults)}`);
    config.defaults = doc.defaults;
  }
  if ('rules' in doc) {
    if (!Array.isArray(doc.rules)) fail(`\`rules\`: expected an array, found ${describe(doc.rules)}`);
    config.rules = doc.rules.map((r, i) => {
      const at = (what) => fail(`rules[${i}]: ${what}`);
      if (!isObject(r)) at(`expected a table, found ${describe(r)}`);
      denyUnknown(r, RULE_FIELDS, at);
      if (!('tag' in r)) at('missing field `tag`');
      if (typeof r.tag !== 'string') at(`\`tag\`: expected a string, found ${describe(r.tag)}`);
      const keywords = r.keywords ?? [];
      if (!Array.isArray(keywords) || r.keywords === null || keywords.some((k) => typeof k !== 'string')) {
        at(`\`keywords\`: expected an array of strings, found ${describe(r.keywords)}`);
      }
      for (const field of ['regex', 'priority', 'intent']) {
        if (r[field] !== undefined && r[field] !== null && typeof r[field] !== 'string') {
          at(`\`${field}\`: expected a string, found ${describe(r[field])}`);
        }
      }
      return {
        tag: r.tag,
        keywords,
        regex: r.regex ?? undefined,
        priority: r.priority ?? undefined,
        intent: r.intent ?? undefined,
      };
    });
  }
  return config;
}

function denyUnknown(obj, fields, fail) {
  for (const key of Object.keys(obj)) {
    if (!fields.includes(key)) {
      fail(`unknown field \`${key}\`, expected one of ${fields.map((f) => `\`${f}\``).join(', ')}`);
    }
  }
}

function compile(rule) {
  if (rule.tag.trim() === '') throw new Error('tag must not be empty');
  if (rule.keywords.length === 0 && rule.regex === undefined) {
    throw new Error(`rule ${JSON.stringify(rule.tag)} needs keywords or a regex`);
  }
  let regex;
  if (rule.regex !== undefined) {
    try {
      regex = new RegExp(rule.regex, 'iu');
    } catch (e) {
      throw new Error(`invalid regex ${JSON.stringify(rule.regex)}: ${e.message}`);
    }
  }
  if (rule.priority !== undefined && !PRIORITIES.includes(rule.priority)) {
    throw new Error(`unknown priority ${JSON.stringify(rule.priority)} (low, normal, high, urgent)`);
  }
  return {
    tag: rule.tag,
    intent: rule.intent ?? rule.tag,
    keywords: rule.keywords.map(normalise),
    regex,
    priority: rule.priority,
  };
}

// Unicode White_Space, as Rust's `char::is_whitespace` (JS `\s` differs slightly).
const WHITE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const APOSTROPHES = /[\u2019\u2018`\u00b4]/u;

/**
 * Lowercases, unifies apostrophes and collapses white space so that "Dov’è  il"
 * matches "dov'è il".
 * @param {string} text
 */
export function normalise(text) {
  let out = '';
  let lastSpace = true;
  for (const ch of text) {
    for (let c of ch.toLowerCase()) {
      if (APOSTROPHES.test(c)) c = "'";
      if (WHITE_SPACE.test(c)) {
        if (!lastSpace) out += ' ';
        lastSpace = true;
      } else {
        out += c;
        lastSpace = false;
      }
    }
  }
  return out;
}

/**
 * True when `needle` occurs in `hay` starting at a word boundary ("price" matches
 * "prices" but not "spice"). Occurrences are found left to right without overlap,
 * as Rust's `str::match_indices` does.
 * @param {string} hay
 * @param {string} needle
 */
export function containsAtWordStart(hay, needle) {
  if (needle === '') return true;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + needle.length)) {
    const before = lastCodePoint(hay, i);
    if (before === undefined || !isAlphanumeric(before)) return true;
  }
  return false;
}

// The code point that ends at UTF-16 index `end`, if any.
function lastCodePoint(s, end) {
  if (end === 0) return undefined;
  const low = s.charCodeAt(end - 1);
  if (low >= 0xdc00 && low <= 0xdfff && end >= 2) {
    const high = s.charCodeAt(end - 2);
    if (high >= 0xd800 && high <= 0xdbff) return s.codePointAt(end - 2);
  }
  return low;
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'a table';
  return `${typeof v} ${JSON.stringify(v)}`;
}
