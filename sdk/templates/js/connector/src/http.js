// Blocking HTTP through the host's `wasi:http` outgoing handler, called directly:
// the contract's exports are synchronous, so the plugin waits on the response's
// pollable (`wasi:io/poll`) instead of using the asynchronous `fetch`. The host
// allows only the binding's allowlisted hosts and adds the credentials itself.

import { handle } from 'wasi:http/outgoing-handler@0.2.12';
import { Fields, OutgoingBody, OutgoingRequest } from 'wasi:http/types@0.2.12';

/** Why a request got no answer: the `wasi:http` error code's name. */
export class HttpError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

const encoder = new TextEncoder();

/**
 * Sends `method url` with `headers` ([name, value] pairs) and a text `body`, and
 * reads the whole response.
 * @returns {{ status: number, headers: [string, string][], body: Uint8Array }}
 */
export function request(method, url, headers, body) {
  const m = /^(https?):\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!m) throw new HttpError(`invalid URL ${url}`);
  const req = new OutgoingRequest(Fields.fromList(headers.map(([k, v]) => [k, encoder.encode(v)])));
  req.setMethod({ tag: method.toLowerCase() });
  req.setScheme({ tag: m[1] === 'https' ? 'HTTPS' : 'HTTP' });
  req.setAuthority(m[2]);
  req.setPathWithQuery(m[3] ?? '/');
  const out = req.body();
  if (body !== undefined) {
    const stream = out.write();
    const bytes = encoder.encode(body);
    // blocking-write-and-flush takes at most 4096 bytes at a time.
    for (let i = 0; i < bytes.length; i += 4096) stream.blockingWriteAndFlush(bytes.subarray(i, i + 4096));
    stream[Symbol.dispose]();
  }
  OutgoingBody.finish(out, undefined);
  const pending = handle(req, undefined);
  let answer = pending.get();
  while (answer === undefined) {
    pending.subscribe().block();
    answer = pending.get();
  }
  if (answer.tag === 'err') throw new HttpError('response already taken');
  if (answer.val.tag === 'err') throw new HttpError(answer.val.val.tag);
  const resp = answer.val.val;
  const decoder = new TextDecoder();
  const respHeaders = resp.headers().entries().map(([k, v]) => [k, decoder.decode(v)]);
  const stream = resp.consume().stream();
  const chunks = [];
  for (;;) {
    try {
      chunks.push(stream.blockingRead(65536n));
    } catch (e) {
      if ((e.payload ?? e).tag === 'closed') break;
      throw new HttpError(`reading the body: ${(e.payload ?? e).tag ?? e}`);
    }
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return { status: resp.status(), headers: respHeaders, body: all };
}
