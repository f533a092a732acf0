// The responder's rules: the first whose words the message contains (ignoring case)
// answers it and tags it. The configuration is TOML (read with the npm package
// smol-toml, bundled into the component by `scrm plugin build`) or JSON.

import { parse as parseToml } from 'smol-toml';

/** Why the binding's configuration cannot be used. */
export class ConfigError extends Error {}

/**
 * The rules of the binding's configuration (bytes, as the host gives them).
 * @param {Uint8Array} raw
 * @returns {{ words: string[], reply: string, tag?: string }[]}
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
    if (!Array.isArray(r.words) || typeof r.reply !== 'string') {
      throw new ConfigError(`invalid config: rules[${i}] needs a list of \`words\` and a \`reply\``);
    }
    const tag = typeof r.tag === 'string' && r.tag !== '' ? r.tag : undefined;
    return { words: r.words.map((w) => String(w).toLowerCase()), reply: r.reply, tag };
  });
}

/**
 * The actions for a message with `text`: the first matching rule's tag and reply.
 * Actions are WIT variants: `{ tag: 'reply', val: 'text' }`.
 * @param {{ words: string[], reply: string, tag?: string }[]} rules
 * @param {string} text
 */
export function actionsFor(rules, text) {
  const lower = text.toLowerCase();
  const rule = rules.find((r) => r.words.some((w) => lower.includes(w)));
  if (rule === undefined) return [];
  const actions = [];
  if (rule.tag !== undefined) actions.push({ tag: 'tag', val: rule.tag });
  actions.push({ tag: 'reply', val: rule.reply });
  return actions;
}
