"""{{name}}: a scrm responder. The `{{world}}` world of scrm:plugin@{{wit_version}}:
this module binds the host's interfaces; the rules themselves are in rules.py, which
runs under plain Python too (`python3 -m unittest`)."""

import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.respond import Action_Reply, Action_Tag, RespondError_InvalidConfig
from wit_world.imports import config

import rules

try:
    # componentize-py names the module after the interface (`types`) unless another
    # imported package has one of the same name, as wasi:http does here.
    from wit_world.imports import scrm_plugin_types as t
except ImportError:
    from wit_world.imports import types as t


class WitWorld(wit_world.WitWorld):
    """The world itself exports no free functions."""


class Respond(exports.Respond):
    """The exported `scrm:plugin/respond` interface."""

    def respond(self, e):
        try:
            parsed = rules.parse_config(config.get())
        except rules.ConfigError as err:
            raise Err(RespondError_InvalidConfig(str(err))) from None
        if not isinstance(e.message.content, t.Content_Text):
            return []
        actions = []
        for kind, value in rules.actions_for(parsed, e.message.content.value):
            actions.append(Action_Tag(value) if kind == "tag" else Action_Reply(value))
        return actions
