// The classifier's rules: each tags the messages whose text contains one of its
// words, ignoring case. The configuration is TOML (read with the npm package
// smol-toml, bundled into the component by `scrm plugin build`) or JSON.

import { parse as parseToml } from 'smol-toml';

/** Why the binding's configuration cannot be used. */
export class ConfigError extends Error {}

/**
 * The rules of the binding's configuration (bytes, as the host gives them).
 * @param {Uint8Array} raw
 * @returns {{ tag: string, words: string[] }[]}
 */
export function parseConfig(raw) {
  const text = new TextDecoder().decode(raw).trim();
  if (text === '') return [];
  let doc;
  try {
    doc = text.startsWith('{') ? JSON.parse(text) : parseToml(text);
  } catch (e) {
    throw new ConfigError(`invalid config: ${String(e.message).split('\n')[0]}`);
  }
  const rules = doc.rules ?? [];
  if (!Array.isArray(rules)) throw new ConfigError('invalid config: `rules` must be a list');
  return rules.map((r, i) => {
    if (typeof r.tag !== 'string' || !Array.isArray(r.words)) {
      throw new ConfigError(`invalid config: rules[${i}] needs a \`tag\` and a list of \`words\``);
    }
    return { tag: r.tag, words: r.words.map((w) => String(w).toLowerCase()) };
  });
}

/**
 * The tags of `text`: each matching rule's tag once, in rule order.
 * @param {{ tag: string, words: string[] }[]} rules
 * @param {string} text
 */
export function tagsFor(rules, text) {
  const lower = text.toLowerCase();
  const tags = [];
  for (const r of rules) {
    if (r.tag !== '' && !tags.includes(r.tag) && r.words.some((w) => lower.includes(w))) {
      tags.push(r.tag);
    }
  }
  return tags;
}
