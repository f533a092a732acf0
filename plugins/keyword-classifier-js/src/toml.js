// A small, dependency-free TOML reader: the subset a plugin configuration needs.
//
// componentize-js takes one ES module tree and does not bundle npm packages, so
// rather than add a bundler step for a TOML package this reads TOML 1.0 minus
// dates and times: comments, bare / quoted / dotted keys, `[table]` and
// `[[array-of-tables]]` headers, basic, literal and multi-line strings, integers,
// floats, booleans, arrays and inline tables. Anything else is an error that names
// the line, never a silent misreading.

/** Why a TOML document could not be read; `message` names the line. */
export class TomlError extends Error {}

/**
 * Parses `text` into plain objects and arrays.
 * @param {string} text
 * @returns {Record<string, unknown>}
 */
export function parseToml(text) {
  return new Parser(text).document();
}

const BARE_KEY = /[A-Za-z0-9_-]/;

class Parser {
  constructor(text) {
    this.s = text;
    this.i = 0;
    this.root = Object.create(null);
    // Tables opened by a header or created as a header's parent; a header may
    // name each only once.
    this.explicit = new Set();
  }

  fail(what) {
    const line = this.s.slice(0, this.i).split('\n').length;
    throw new TomlError(`${what} at line ${line}`);
  }

  peek(n = 0) {
    return this.s[this.i + n];
  }

  startsWith(str) {
    return this.s.startsWith(str, this.i);
  }

  // Skips spaces and tabs only.
  skipWs() {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++;
  }

  skipComment() {
    if (this.peek() === '#') {
      while (this.i < this.s.length && this.peek() !== '\n') this.i++;
    }
  }

  // Skips white space, newlines and comments (inside arrays).
  skipAll() {
    for (;;) {
      this.skipWs();
      this.skipComment();
      if (this.peek() === '\n') this.i++;
      else if (this.startsWith('\r\n')) this.i += 2;
      else return;
    }
  }

  endOfLine() {
    this.skipWs();
    this.skipComment();
    if (this.i >= this.s.length) return;
    if (this.peek() === '\n') this.i++;
    else if (this.startsWith('\r\n')) this.i += 2;
    else this.fail(`expected the end of the line, found ${JSON.stringify(this.peek())}`);
  }

  document() {
    let table = this.root;
    for (;;) {
      this.skipAll();
      if (this.i >= this.s.length) return this.root;
      if (this.startsWith('[[')) {
        this.i += 2;
        const key = this.key();
        this.skipWs();
        if (!this.startsWith(']]')) this.fail('expected `]]`');
        this.i += 2;
        table = this.arrayTable(key);
      } else if (this.peek() === '[') {
        this.i++;
        const key = this.key();
        this.skipWs();
        if (this.peek() !== ']') this.fail('expected `]`');
        this.i++;
        table = this.headerTable(key);
      } else {
        this.keyValue(table);
      }
      this.endOfLine();
    }
  }

  // Walks to the table that `path` (minus its last part) names, creating tables.
  descend(table, path) {
    for (const part of path) {
      let next = table[part];
      if (next === undefined) {
        next = table[part] = Object.create(null);
      } else if (Array.isArray(next) && next.tables) {
        next = next[next.length - 1];
      } else if (!isTable(next) || next.inline) {
        this.fail(`key \`${part}\` is not a table`);
      }
      table = next;
    }
    return table;
  }

  headerTable(path) {
    const parent = this.descend(this.root, path.slice(0, -1));
    const last = path[path.length - 1];
    let t = parent[last];
    if (t === undefined) {
      t = parent[last] = Object.create(null);
    } else if (!isTable(t) || t.inline || this.explicit.has(t)) {
      this.fail(`duplicate table \`${path.join('.')}\``);
    }
    this.explicit.add(t);
    return t;
  }

  arrayTable(path) {
    const parent = this.descend(this.root, path.slice(0, -1));
    const last = path[path.length - 1];
    let arr = parent[last];
    if (arr === undefined) {
      arr = parent[last] = [];
      Object.defineProperty(arr, 'tables', { value: true });
    } else if (!Array.isArray(arr) || !arr.tables) {
      this.fail(`key \`${path.join('.')}\` is not an array of tables`);
    }
    const t = Object.create(null);
    arr.push(t);
    return t;
  }

  keyValue(table) {
    const path = this.key();
    this.skipWs();
    if (this.peek() !== '=') this.fail('expected `=` after a key');
    this.i++;
    this.skipWs();
    const value = this.value();
    const target = this.descend(table, path.slice(0, -1));
    const last = path[path.length - 1];
    if (Object.prototype.hasOwnProperty.call(target, last)) {
      this.fail(`duplicate key \`${last}\``);
    }
    target[last] = value;
  }

  key() {
    const parts = [];
    for (;;) {
      this.skipWs();
      const c = this.peek();
      if (c === '"') parts.push(this.basicString());
      else if (c === "'") parts.push(this.literalString());
      else {
        const start = this.i;
        while (this.i < this.s.length && BARE_KEY.test(this.peek())) this.i++;
        if (this.i === start) this.fail('expected a key');
        parts.push(this.s.slice(start, this.i));
      }
      this.skipWs();
      if (this.peek() !== '.') return parts;
      this.i++;
    }
  }

  value() {
    const c = this.peek();
    if (this.startsWith('"""')) return this.multiBasicString();
    if (this.startsWith("'''")) return this.multiLiteralString();
    if (c === '"') return this.basicString();
    if (c === "'") return this.literalString();
    if (c === '[') return this.array();
    if (c === '{') return this.inlineTable();
    if (this.startsWith('true')) return this.word('true', true);
    if (this.startsWith('false')) return this.word('false', false);
    return this.number();
  }

  word(w, v) {
    this.i += w.length;
    return v;
  }

  number() {
    const m = /^[+-]?(?:inf|nan|0x[0-9A-Fa-f_]+|0o[0-7_]+|0b[01_]+|[0-9_]+(?:\.[0-9_]+)?(?:[eE][+-]?[0-9_]+)?)/.exec(
      this.s.slice(this.i),
    );
    if (!m) this.fail('expected a value');
    const raw = m[0];
    if (/^[+-]?\d{4}-|^\d{2}:/.test(this.s.slice(this.i, this.i + 6))) {
      this.fail('dates and times are not supported');
    }
    this.i += raw.length;
    const digits = raw.replace(/_/g, '');
    if (/inf$/.test(digits)) return digits.startsWith('-') ? -Infinity : Infinity;
    if (/nan$/.test(digits)) return NaN;
    if (/^0[xob]/.test(digits)) return Number(digits);
    const n = Number(digits);
    if (Number.isNaN(n)) this.fail(`invalid number ${JSON.stringify(raw)}`);
    return n;
  }

  array() {
    this.i++;
    const out = [];
    for (;;) {
      this.skipAll();
      if (this.peek() === ']') {
        this.i++;
        return out;
      }
      out.push(this.value());
      this.skipAll();
      if (this.peek() === ',') this.i++;
      else if (this.peek() !== ']') this.fail('expected `,` or `]` in an array');
    }
  }

  inlineTable() {
    this.i++;
    const t = Object.create(null);
    Object.defineProperty(t, 'inline', { value: true });
    this.skipWs();
    if (this.peek() === '}') {
      this.i++;
      return t;
    }
    for (;;) {
      this.keyValue(t);
      this.skipWs();
      if (this.peek() === ',') this.i++;
      else if (this.peek() === '}') {
        this.i++;
        return t;
      } else this.fail('expected `,` or `}` in an inline table');
      this.skipWs();
    }
  }

  literalString() {
    this.i++;
    const end = this.s.indexOf("'", this.i);
    const nl = this.s.indexOf('\n', this.i);
    if (end < 0 || (nl >= 0 && nl < end)) this.fail('unterminated string');
    const out = this.s.slice(this.i, end);
    this.i = end + 1;
    return out;
  }

  multiLiteralString() {
    this.i += 3;
    if (this.peek() === '\n') this.i++;
    else if (this.startsWith('\r\n')) this.i += 2;
    const end = this.s.indexOf("'''", this.i);
    if (end < 0) this.fail('unterminated string');
    let close = end;
    // Up to two quotes right before the delimiter belong to the string.
    while (this.s[close + 3] === "'" && close < end + 2) close++;
    const out = this.s.slice(this.i, close);
    this.i = close + 3;
    return out;
  }

  basicString() {
    this.i++;
    let out = '';
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === '\n') this.fail('unterminated string');
      this.i++;
      if (c === '"') return out;
      out += c === '\\' ? this.escape() : c;
    }
  }

  multiBasicString() {
    this.i += 3;
    if (this.peek() === '\n') this.i++;
    else if (this.startsWith('\r\n')) this.i += 2;
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) this.fail('unterminated string');
      if (this.startsWith('"""')) {
        let extra = 0;
        while (this.s[this.i + 3 + extra] === '"' && extra < 2) extra++;
        out += '"'.repeat(extra);
        this.i += 3 + extra;
        return out;
      }
      const c = this.peek();
      this.i++;
      if (c !== '\\') {
        out += c;
      } else if (/^[ \t]*\r?\n/.test(this.s.slice(this.i))) {
        // A line-ending backslash trims the newline and following white space.
        while (/[ \t\r\n]/.test(this.peek() ?? '')) this.i++;
      } else {
        out += this.escape();
      }
    }
  }

  escape() {
    const c = this.peek();
    this.i++;
    const simple = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' };
    if (c in simple) return simple[c];
    if (c === 'u' || c === 'U') {
      const len = c === 'u' ? 4 : 8;
      const hex = this.s.slice(this.i, this.i + len);
      if (!new RegExp(`^[0-9A-Fa-f]{${len}}$`).test(hex)) this.fail('invalid unicode escape');
      this.i += len;
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) this.fail('invalid unicode escape');
      return String.fromCodePoint(cp);
    }
    this.i--;
    this.fail(`invalid escape \`\\${c}\``);
  }
}

function isTable(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
