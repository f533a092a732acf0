"""Blocking HTTP through the host's `wasi:http` outgoing handler, with the world's
generated bindings: the contract's exports are synchronous, so the plugin waits on
the response's pollable (`wasi:io/poll`). (componentize-py's `poll_loop` helper is
asyncio-based and imports the bindings as `types`, which in this world is
`wasi_http_types`.) The host allows only the binding's allowlisted hosts and adds
the credentials itself."""

from componentize_py_types import Err
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as wasi

METHODS = {
    "GET": wasi.Method_Get,
    "POST": wasi.Method_Post,
    "PATCH": wasi.Method_Patch,
    "PUT": wasi.Method_Put,
    "DELETE": wasi.Method_Delete,
}


class HttpError(Exception):
    """Why a request got no answer: the `wasi:http` error code's name."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _code(error) -> str:
    """`ErrorCode_HttpRequestDenied` as `http-request-denied`."""
    name = type(error).__name__.removeprefix("ErrorCode_")
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


def request(method: str, url: str, headers: list[tuple[str, str]], body: bytes | None):
    """Sends `method url` with `headers` and `body` and reads the whole response:
    `(status, [(name, value)], body)`."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise HttpError(f"invalid URL {url}")
    authority, _, path = rest.partition("/")
    req = wasi.OutgoingRequest(wasi.Fields.from_list([(k, v.encode()) for k, v in headers]))
    req.set_method(METHODS[method]())
    req.set_scheme(wasi.Scheme_Https() if scheme == "https" else wasi.Scheme_Http())
    req.set_authority(authority)
    req.set_path_with_query("/" + path)
    out = req.body()
    if body:
        with out.write() as stream:
            # blocking-write-and-flush takes at most 4096 bytes at a time.
            for i in range(0, len(body), 4096):
                stream.blocking_write_and_flush(body[i : i + 4096])
    wasi.OutgoingBody.finish(out, None)
    try:
        pending = outgoing_handler.handle(req, None)
    except Err as e:
        raise HttpError(_code(e.value)) from None
    with pending:
        answer = pending.get()
        while answer is None:
            with pending.subscribe() as ready:
                ready.block()
            answer = pending.get()
    if isinstance(answer, Err):
        raise HttpError("response already taken")
    if isinstance(answer.value, Err):
        raise HttpError(_code(answer.value.value))
    chunks = []
    with answer.value.value as resp:
        status = resp.status()
        with resp.headers() as fields:
            got = [(k, v.decode("latin-1")) for k, v in fields.entries()]
        with resp.consume() as incoming:
            with incoming.stream() as stream:
                while True:
                    try:
                        chunks.append(stream.blocking_read(65536))
                    except Err as e:
                        if isinstance(e.value, streams.StreamError_Closed):
                            break
                        raise HttpError("reading the body failed") from None
    return status, got, b"".join(chunks)
