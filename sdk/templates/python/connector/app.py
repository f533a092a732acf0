"""{{name}}: a scrm connector for HubSpot's CRM v3 API (contacts and notes). The
`{{world}}` world of scrm:plugin@{{wit_version}}: this module is the contract, each
export in a few calls; what is HubSpot's is in hubspot.py and webhook.py (plain
Python, `python3 -m unittest`), the blocking HTTP in http_client.py.

The access token is never in the configuration: the host adds it to each request
(a tenant secret named as a credential of the binding's HTTP policy)."""

import json

import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import connect as c
from wit_world.imports import clock, config, secrets
from wit_world.imports import scrm_plugin_types as t

import http_client
import hubspot
import webhook
from hubspot import Failure

CONTACTS = "/crm/v3/objects/contacts"
NOTES = "/crm/v3/objects/notes"
# HubSpot's association type of a note to a contact.
NOTE_TO_CONTACT = 202

ERRORS = {
    "unauthorized": c.ConnectorError_Unauthorized,
    "rate-limited": c.ConnectorError_RateLimited,
    "not-found": c.ConnectorError_NotFound,
    "invalid": c.ConnectorError_Invalid,
    "unavailable": c.ConnectorError_Unavailable,
    "failed": c.ConnectorError_Failed,
}


def contract(f):
    """The export `f` with its errors as the contract's: a `Failure` becomes its
    case, anything else `failed`."""

    def export(self, *args):
        try:
            return f(self, *args)
        except Failure as e:
            raise Err(ERRORS[e.case](e.value)) from None
        except Err:
            raise
        except Exception as e:  # noqa: BLE001 - a bug, reported as the contract's failed
            raise Err(c.ConnectorError_Failed(f"{type(e).__name__}: {e}")) from None

    return export


def load_config() -> hubspot.Config:
    return hubspot.parse_config(config.get())


def call(cfg: hubspot.Config, method: str, path: str, body=None):
    """Sends `method path` with a JSON body; HubSpot's answer as JSON."""
    raw = None if body is None else json.dumps(body).encode()
    headers = [("accept", "application/json"), ("content-type", "application/json")]
    try:
        status, got, answer = http_client.request(method, cfg.base_url.rstrip("/") + path, headers, raw)
    except http_client.HttpError as e:
        if e.code == "http-request-denied":
            raise Failure("invalid", f"{method} {path}: refused by the binding's HTTP policy") from None
        raise Failure("unavailable", f"{method} {path}: {e.code}") from None
    return hubspot.check(method, path, status, got, answer)


def text_fields(record: t.CrmRecord) -> dict[str, str]:
    return {f.name: f.value.value for f in record.fields if isinstance(f.value, t.FieldValue_Text)}


def to_wit(r: hubspot.Record) -> t.CrmRecord:
    fields = [t.Field(name, t.FieldValue_Text(value)) for name, value in r.fields]
    return t.CrmRecord(object="contact", id=r.id, fields=fields, updated_at=r.updated_at)


def pushed(answer) -> c.Pushed:
    id_, at = hubspot.pushed(answer)
    return c.Pushed(id=id_, updated_at=at)


def update(cfg, id_: str, props: dict) -> c.Pushed:
    return pushed(call(cfg, "PATCH", f"{CONTACTS}/{hubspot.object_id(id_)}", {"properties": props}))


def find_by(cfg, path: str, prop: str, value: str) -> str | None:
    """The id of the first object at `path` whose `prop` is `value`, if any."""
    search = {"filterGroups": [{"filters": [{"propertyName": prop, "operator": "EQ", "value": value}]}], "limit": 1}
    results = (call(cfg, "POST", f"{path}/search", search) or {}).get("results") or []
    return results[0]["id"] if results else None


def read_contacts(cfg, ids: list[str]) -> list[t.CrmRecord]:
    out = []
    # HubSpot's batch endpoints take at most 100 inputs.
    for i in range(0, len(ids), 100):
        body = {"inputs": [{"id": id_} for id_ in ids[i : i + 100]], "properties": hubspot.PROPERTIES}
        read = call(cfg, "POST", f"{CONTACTS}/batch/read", body) or {}
        out.extend(to_wit(hubspot.record(o)) for o in read.get("results") or [])
    return out


class WitWorld(wit_world.WitWorld):
    """The world itself exports no free functions."""


class Connect(exports.Connect):
    """The exported `scrm:plugin/connect` interface."""

    @contract
    def push_contact(self, record: t.CrmRecord) -> c.Pushed:
        """By id when the host knows it, else by phone, else a new contact."""
        cfg = load_config()
        fields = text_fields(record)
        props = hubspot.contact_properties(fields)
        if record.id is not None:
            try:
                return update(cfg, record.id, props)
            except Failure as e:
                # Deleted or merged away in HubSpot since: look for it by phone.
                if e.case != "not-found":
                    raise
        phone = fields.get("phone", "").strip()
        found = find_by(cfg, CONTACTS, "phone", phone) if phone else None
        if found is not None:
            return update(cfg, found, props)
        return pushed(call(cfg, "POST", CONTACTS, {"properties": props}))

    @contract
    def push_note(self, contact_id: str, write: c.WriteKey, record: t.CrmRecord) -> c.Pushed:
        """A note on the contact carrying the write's key; a retry looks the key up first."""
        cfg = load_config()
        if write.retried:
            found = find_by(cfg, NOTES, cfg.key_property, write.key)
            if found is not None:
                return c.Pushed(id=found, updated_at=None)
        text = text_fields(record).get("text", "").strip()
        if not text:
            raise Failure("invalid", "the note has no text field")
        at = next(
            (f.value.value for f in record.fields
             if f.name == "timestamp" and isinstance(f.value, (t.FieldValue_Timestamp, t.FieldValue_Integer))),
            None,
        )
        body = {
            "properties": {
                "hs_note_body": text,
                "hs_timestamp": str(at if at is not None else clock.now()),
                cfg.key_property: write.key,
            },
            "associations": [{
                "to": {"id": hubspot.object_id(contact_id)},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_CONTACT}],
            }],
        }
        return pushed(call(cfg, "POST", NOTES, body))

    @contract
    def push_deal(self, contact_id: str, write: c.WriteKey, record: t.CrmRecord) -> c.Pushed:
        raise Failure("invalid", "this connector writes no deals (see its README)")

    @contract
    def read_contacts(self, ids: list[str]) -> list[t.CrmRecord]:
        return read_contacts(load_config(), ids)

    def read_deals(self, ids: list[str]) -> list[t.CrmRecord]:
        """None: this connector writes no deals, so none of the ids is one of its deals."""
        return []

    @contract
    def pull_changes(self, cursor: str) -> c.Changes:
        """Contacts by `lastmodifieddate`, oldest first, with the search API."""
        cfg = load_config()
        start = hubspot.Cursor.parse(cursor)
        until = clock.now() - cfg.pull_settle_ms
        if until <= start.at:
            return c.Changes(records=[], replies=[], next_cursor=cursor, more=False)
        page = call(cfg, "POST", f"{CONTACTS}/search", start.search(until, cfg.page_size)) or {}
        results = page.get("results") or []
        records, nxt = start.advance(results)
        more = len(results) >= cfg.page_size or "next" in (page.get("paging") or {})
        return c.Changes(records=[to_wit(r) for r in records], replies=[], next_cursor=str(nxt), more=more)

    @contract
    def parse_webhook(self, headers: list[tuple[str, str]], body: bytes) -> list[t.CrmRecord]:
        """The contacts a signed delivery names, read as HubSpot has them now."""
        cfg = load_config()
        webhook.verify(cfg, headers, body, clock.now(), secrets.hmac_sha256)
        ids = webhook.contact_ids(body)
        return read_contacts(cfg, ids) if ids else []


class OrderLookup(exports.OrderLookup):
    """The exported `scrm:plugin/order-lookup` interface: HubSpot keeps no orders here."""

    def find_orders(self, contact_id: str, since: int, limit: int) -> list:
        raise Err(c.ConnectorError_Invalid("this connector reads no orders"))
