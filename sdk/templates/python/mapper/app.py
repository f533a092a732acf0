"""{{name}}: a scrm mapper. The `{{world}}` world of scrm:plugin@{{wit_version}}:
this module binds the host's interfaces and converts the contract's types; the
mapping itself is in mapping.py, which runs under plain Python too
(`python3 -m unittest`)."""

import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.mapping import MapError_InvalidConfig, Mapped
from wit_world.imports import config

import mapping

try:
    # componentize-py names the module after the interface (`types`) unless another
    # imported package has one of the same name, as wasi:http does here.
    from wit_world.imports import scrm_plugin_types as t
except ImportError:
    from wit_world.imports import types as t


def text_of(content):
    """The human-readable text of a message, if it has one."""
    if isinstance(content, t.Content_Text):
        return content.value
    if isinstance(content, (t.Content_Image, t.Content_Video, t.Content_Document)):
        return content.value.caption
    if isinstance(content, (t.Content_InteractiveReply, t.Content_Button)):
        return content.value.title
    return None


def to_wit(value) -> t.FieldValue:
    """A plain value (see mapping.py) as the contract's field value."""
    if value is None:
        return t.FieldValue_Empty()
    if isinstance(value, mapping.Timestamp):
        return t.FieldValue_Timestamp(value.ms)
    if isinstance(value, bool):
        return t.FieldValue_Boolean(value)
    if isinstance(value, int):
        return t.FieldValue_Integer(value)
    if isinstance(value, float):
        return t.FieldValue_Number(value)
    return t.FieldValue_Text(str(value))


def from_wit(value: t.FieldValue):
    """The contract's field value as a plain value."""
    if isinstance(value, t.FieldValue_Empty):
        return None
    if isinstance(value, t.FieldValue_Timestamp):
        return mapping.Timestamp(value.value)
    return value.value


def record(object_: str, fields) -> t.CrmRecord:
    return t.CrmRecord(object=object_, id=None, fields=[t.Field(n, to_wit(v)) for n, v in fields], updated_at=None)


def load_config() -> mapping.Config:
    try:
        return mapping.parse_config(config.get())
    except mapping.ConfigError as e:
        raise Err(MapError_InvalidConfig(str(e))) from None


class WitWorld(wit_world.WitWorld):
    """The world itself exports no free functions."""


class Mapping(exports.Mapping):
    """The exported `scrm:plugin/mapping` interface."""

    def contact_to_crm(self, c: t.Contact, facts: t.ContactFacts) -> Mapped:
        cfg = load_config()
        fields, defaulted = mapping.contact_fields(cfg, c.name, c.phone)
        return Mapped(record=record(cfg.contact_object, fields), defaulted=defaulted)

    def conversation_to_crm(self, conv: t.Conversation, c: t.Contact, signal: t.Signal) -> t.KeyedRecord | None:
        cfg = load_config()
        sales = signal.kind == t.SignalKind.SALES
        deal = mapping.deal_fields(cfg, c.id, c.name or c.phone, sales, text_of(signal.message.content))
        if deal is None:
            return None
        key, fields = deal
        return t.KeyedRecord(key=key, record=record(cfg.deal_object, fields))

    def message_to_crm(self, msg: t.Message, c: t.Contact, found: t.Classification) -> t.CrmRecord:
        cfg = load_config()
        inbound = msg.direction == t.Direction.INBOUND
        return record(cfg.note_object, mapping.note_fields(inbound, msg.id, text_of(msg.content), msg.timestamp))

    def crm_to_contact(self, record: t.CrmRecord) -> t.ContactChanges:
        cfg = load_config()
        name, phone, pulled = mapping.changes_from(cfg, [(f.name, from_wit(f.value)) for f in record.fields])
        return t.ContactChanges(name=name, phone=phone, fields=[t.Field(n, to_wit(v)) for n, v in pulled])
