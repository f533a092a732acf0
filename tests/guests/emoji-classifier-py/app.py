"""A classifier that uses a package from PyPI (`emoji`, listed in requirements.txt):
each distinct emoji of a text message becomes a tag (`emoji:thumbs_up`), and a
message made of emoji only is tagged `emoji-only` too.

It exists to prove that `scrm plugin build` bundles a Python plugin's pure-Python
requirements (tests/tests/plugin_build.rs).
"""

import emoji

import wit_world
from wit_world import exports

try:
    from wit_world.imports import scrm_plugin_types as t
except ImportError:
    from wit_world.imports import types as t


class WitWorld(wit_world.WitWorld):
    """The world itself exports no free functions."""


class Classify(exports.Classify):
    """The exported `scrm:plugin/classify` interface."""

    def classify(self, msg: t.Message, sender: t.Contact) -> t.Classification:
        tags = []
        if isinstance(msg.content, t.Content_Text):
            text = msg.content.value
            for e in emoji.distinct_emoji_list(text):
                name = emoji.demojize(e, delimiters=("", "")).lower()
                tag = "emoji:" + name
                if tag not in tags:
                    tags.append(tag)
            if text.strip() and emoji.purely_emoji(text.replace(" ", "")):
                tags.append("emoji-only")
        return t.Classification(tags=tags, intent=None, entities=[], sentiment=None, priority=None)
