"""HubSpot's side, in plain Python (it runs under plain Python too,
`python3 -m unittest`): the configuration, HubSpot's statuses as the contract's
errors, contacts as CRM records and back, and the pull cursor. Another CRM changes
this file (and webhook.py), not the contract's calls in app.py. A record here is
`Record(id, fields, updated_at)` with `fields` a list of `(name, text)` pairs;
app.py converts to and from the contract's types."""

import json
import tomllib
from dataclasses import dataclass, field
from datetime import datetime

# The contact properties read on pulls, webhooks and reads.
PROPERTIES = ["firstname", "lastname", "phone", "email", "lastmodifieddate"]


class Failure(Exception):
    """One of the contract's connector errors: its case (`invalid`, `not-found`,
    `rate-limited`, ...) and its text (seconds to wait, for `rate-limited`)."""

    def __init__(self, case: str, value):
        super().__init__(f"{case}: {value}")
        self.case = case
        self.value = value


@dataclass
class Config:
    """The binding's configuration; every key optional."""

    # HubSpot's API; paths /crm/v3/... are added to it.
    base_url: str = "https://api.hubapi.com"
    # Contacts per pull page, 1-200.
    page_size: int = 100
    # Changes younger than this are left for the next pull: HubSpot's search index
    # shows a write a few seconds late, and a change indexed after the cursor
    # passed its time would never be read.
    pull_settle_ms: int = 5000
    # The custom note property holding the host's key of a write.
    key_property: str = "scrm_key"
    # The tenant secret webhooks are signed with (its name); unset: refused.
    webhook_secret: str | None = None
    # The public URL HubSpot posts webhooks to, as configured in the app.
    webhook_url: str | None = None


def parse_config(raw: bytes) -> Config:
    """The binding's configuration (bytes, as the host gives them)."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        doc = (json.loads(text) if text.startswith("{") else tomllib.loads(text)) if text else {}
        cfg = Config(**doc)
    except (ValueError, TypeError) as e:
        raise Failure("invalid", f"connector config: {e}") from None
    if not cfg.base_url.startswith(("https://", "http://")):
        raise Failure("invalid", f"connector config: base_url {cfg.base_url!r} must be a URL")
    if not 1 <= cfg.page_size <= 200:
        raise Failure("invalid", "connector config: page_size must be 1-200")
    return cfg


def check(method: str, path: str, status: int, headers: list[tuple[str, str]], body: bytes):
    """HubSpot's answer as JSON, or its status as the contract's error: 401/403
    unauthorized, 404 not-found, 429 rate-limited (for `Retry-After` seconds, else
    10), other 4xx invalid, 5xx unavailable."""
    try:
        answer = json.loads(body) if body.strip() else None
    except ValueError:
        answer = None
    message = answer.get("message", "") if isinstance(answer, dict) else ""
    why = f"{method} {path}: HTTP {status} {message}"
    if 200 <= status < 300:
        return answer
    if status in (401, 403):
        raise Failure("unauthorized", why)
    if status == 404:
        raise Failure("not-found", why)
    if status == 429:
        after = next((v.strip() for k, v in headers if k == "retry-after"), "")
        raise Failure("rate-limited", int(after) if after.isdigit() else 10)
    if 400 <= status < 500:
        raise Failure("invalid", why)
    raise Failure("unavailable", why)


def object_id(id_: str) -> str:
    """A HubSpot object id (digits), safe in a path."""
    if not (id_.isascii() and id_.isdigit()):
        raise Failure("invalid", f"{id_!r} is not a HubSpot id")
    return id_


def contact_properties(fields: dict[str, str]) -> dict[str, str]:
    """The HubSpot properties of a contact record's text fields (`name`, `phone`,
    `email`): the name's first word is the first name, the rest the last name.
    Empty fields are left out, so that a contact the host knows less about keeps
    what HubSpot has."""
    props = {}
    name = fields.get("name", "").strip()
    if name:
        first, _, last = name.partition(" ")
        props["firstname"], props["lastname"] = first, last.strip()
    for key in ("phone", "email"):
        if fields.get(key, "").strip():
            props[key] = fields[key]
    return props


def modified(obj: dict) -> int | None:
    """When HubSpot last changed the object, Unix ms."""
    p = obj.get("properties") or {}
    t = p.get("lastmodifieddate") or p.get("hs_lastmodifieddate") or obj.get("updatedAt")
    if not isinstance(t, str):
        return None
    if t.isdigit():
        return int(t)
    try:
        return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000 + 0.5)
    except ValueError:
        return None


@dataclass
class Record:
    """A contact as the host's record: its HubSpot id, `(name, text)` fields and
    change time."""

    id: str
    fields: list[tuple[str, str]]
    updated_at: int | None


def record(obj: dict) -> Record:
    """A HubSpot contact as the host's record (`name`, `phone`, `email`)."""
    p = obj.get("properties") or {}

    def prop(k):
        v = p.get(k)
        return v.strip() if isinstance(v, str) and v.strip() else None

    name = " ".join(x for x in (prop("firstname"), prop("lastname")) if x)
    fields = [(k, v) for k, v in (("name", name), ("phone", prop("phone")), ("email", prop("email"))) if v]
    return Record(str(obj.get("id")), fields, modified(obj))


def pushed(obj) -> tuple[str, int | None]:
    """The id and change time of an object HubSpot wrote."""
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        raise Failure("failed", f"HubSpot answered no id: {obj!r}")
    return obj["id"], modified(obj)


@dataclass
class Cursor:
    """Where a pull starts: the change time of the newest contact read, and the ids
    read at exactly that time (a page can end among contacts changed in the same
    millisecond). Text: `MS:ID,ID`; empty: from the start."""

    at: int = 0
    ids: list[str] = field(default_factory=list)

    @staticmethod
    def parse(text: str) -> "Cursor":
        if not text:
            return Cursor()
        at, _, ids = text.partition(":")
        if not at.isdigit():
            raise Failure("invalid", f"{text!r} is not a pull cursor")
        return Cursor(int(at), [i for i in ids.split(",") if i])

    def __str__(self) -> str:
        return f"{self.at}:{','.join(self.ids)}"

    def search(self, until: int, limit: int) -> dict:
        """The search for contacts changed from the cursor up to `until`, oldest first."""
        filters = [{"propertyName": "lastmodifieddate", "operator": "LTE", "value": str(until)}]
        if self.at > 0:
            filters.append({"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(self.at)})
        return {
            "filterGroups": [{"filters": filters}],
            "properties": PROPERTIES,
            "limit": limit,
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        }

    def advance(self, results: list[dict]) -> tuple[list[Record], "Cursor"]:
        """The records of a page of search `results` not read before, and the cursor
        after them."""
        nxt = Cursor(self.at, list(self.ids))
        records = []
        for obj in results:
            at, rec = modified(obj), record(obj)
            if at is None or (at == self.at and rec.id in self.ids):
                continue
            if at > nxt.at:
                nxt = Cursor(at, [])
            nxt.ids.append(rec.id)
            records.append(rec)
        return records, nxt
