"""{{name}}: a scrm classifier. The `{{world}}` world of scrm:plugin@{{wit_version}}:
this module binds the host's interfaces; the rules themselves are in rules.py, which
runs under plain Python too (`python3 -m unittest`)."""

import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.classify import ClassifyError_InvalidConfig
from wit_world.imports import config

import rules

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


class WitWorld(wit_world.WitWorld):
    """The world itself exports no free functions."""


class Classify(exports.Classify):
    """The exported `scrm:plugin/classify` interface."""

    def classify(self, msg: t.Message, sender: t.Contact) -> t.Classification:
        try:
            parsed = rules.parse_config(config.get())
        except rules.ConfigError as e:
            raise Err(ClassifyError_InvalidConfig(str(e))) from None
        text = text_of(msg.content)
        tags = [] if text is None else rules.tags_for(parsed, text)
        return t.Classification(tags=tags, intent=None, entities=[], sentiment=None, priority=None)
