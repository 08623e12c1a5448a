"""singer-check-tap 0.4.1 (singer-tools) on standard input, with one bug of its own guarded.

Its date-time check (`check_tap.extend_with_default`) calls `instance.get(...)` on the value of
every property whose schema has `properties`, before asking whether that value is an object; a
null object whose schema has date-time fields (Intercom's `conversation_rating` and `ai_agent`
when a conversation has none; singer-io's tap sends the same) ends the check with
AttributeError. This runs the tool's own `main` with that check skipped for values that are not
objects (the same rule jsonschema's `properties` applies), and nothing else changed.
"""

import sys

from jsonschema import validators
from singertools import check_tap


original = check_tap.extend_with_default


def extend_with_default(validator_class):
    checked = original(validator_class).VALIDATORS["properties"]
    plain = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        rule = checked if isinstance(instance, dict) else plain
        yield from rule(validator, props, instance, schema)

    return validators.extend(validator_class, {"properties": properties})


check_tap.extend_with_default = extend_with_default
sys.exit(check_tap.main())
