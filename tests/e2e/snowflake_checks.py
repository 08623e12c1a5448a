"""The Snowflake part of the end-to-end checks: helpers of e2e.py's check_snowflake_* functions.

MeltanoLabs' target-snowflake (meltano.yml, pinned) loads into fakesnow, a local Snowflake
emulator, through tests/e2e/snowflake_emulator.py (its docstring says what it rewrites and why).
The e2e's Meltano project gets a loader `target-snowflake-emulator` inheriting from
`target-snowflake`; the launcher copies every message the target reads to a file, and the checks
compare the tables, read back through the emulator, with those messages.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

LOADER = "target-snowflake-emulator"
LAUNCHER = Path(__file__).resolve().parent / "snowflake_emulator.py"
# Installed next to the target, into the inherited loader's own virtual environment.
EMULATOR = "fakesnow==0.12.1"
# target-snowflake 0.20.4 compares `database` with the names SHOW DATABASES gives, as Snowflake
# stores them: upper case for a name created unquoted.
DATABASE = "ANALYTICS"
SCHEMA = "TAP_INTERCOM"  # default_target_schema from the tap's namespace, upper-cased by the target
# target-snowflake's columns of the SDK's record metadata: the _sdc_ times are TIMESTAMP_NTZ
# (the date-times of the SCHEMA the SDK extends), the numbers NUMBER.
SDC_TYPES = {
    "_SDC_EXTRACTED_AT": "TIMESTAMP_NTZ", "_SDC_RECEIVED_AT": "TIMESTAMP_NTZ", "_SDC_BATCHED_AT": "TIMESTAMP_NTZ",
    "_SDC_DELETED_AT": "TIMESTAMP_NTZ", "_SDC_SEQUENCE": "NUMBER", "_SDC_TABLE_VERSION": "NUMBER",
    "_SDC_SYNC_STARTED_AT": "NUMBER",
}


def add_emulator_loader(project: Path, db_dir: Path) -> dict:
    """Adds `target-snowflake-emulator` to the project's meltano.yml: inherits from target-snowflake
    (its settings and config), the same pip_url plus the emulator, the launcher as executable
    (an absolute path: Meltano runs it as it is, with the loader's virtual environment first on
    PATH). Returns the definition."""
    path = project / "meltano.yml"
    config = yaml.safe_load(path.read_text())
    parent = next(l for l in config["plugins"]["loaders"] if l["name"] == "target-snowflake")
    loader = {
        "name": LOADER,
        "inherit_from": "target-snowflake",
        "pip_url": f"{parent['pip_url']} {EMULATOR}",
        "executable": str(LAUNCHER),
        # What a user gives (the README's example); the emulator checks none of it but the database.
        "config": {"account": "emulator-e2e", "user": "LOADER", "database": DATABASE, "warehouse": "LOADING", "role": "LOADER"},
        "env": {"SNOWFLAKE_EMULATOR_DB": str(db_dir)},
    }
    config["plugins"]["loaders"].append(loader)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return loader


def declared_settings(project: Path) -> list[str]:
    """The settings meltano.yml declares for target-snowflake."""
    config = yaml.safe_load((project / "meltano.yml").read_text())
    parent = next(l for l in config["plugins"]["loaders"] if l["name"] == "target-snowflake")
    return [s["name"] for s in parent.get("settings", [])]


def emulator_python(project: Path) -> Path:
    return project / ".meltano" / "loaders" / LOADER / "venv" / "bin" / "python"


def query(project: Path, db_dir: Path, statements: list[str]) -> list[list[dict]]:
    """Runs SQL in the emulator (the launcher's --query mode, in the loader's environment); each
    statement's rows as dicts of column name to value."""
    result = subprocess.run(
        [str(emulator_python(project)), str(LAUNCHER), "--query"],
        input=json.dumps({"database": DATABASE, "statements": statements}),
        env=dict(os.environ, SNOWFLAKE_EMULATOR_DB=str(db_dir)),
        capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"emulator query failed:\n{result.stderr[-3000:]}")
    return [[dict(zip(r["columns"], row)) for row in r["rows"]] for r in json.loads(result.stdout)]


def expected_type(prop: dict) -> str:
    """The Snowflake column type target-snowflake 0.20.4 gives a JSON Schema property, as
    information_schema names it (connector.py: object and array VARIANT, date-time TIMESTAMP_NTZ,
    integer NUMBER, number DOUBLE, which Snowflake calls FLOAT; strings VARCHAR, called TEXT)."""
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else types
    non_null = [t for t in types if t != "null"]
    if len(non_null) != 1:
        return "VARIANT" if {"object", "array"} & set(non_null) else "TEXT"
    kind = non_null[0]
    if kind == "string":
        return {"date-time": "TIMESTAMP_NTZ", "date": "DATE"}.get(prop.get("format"), "TEXT")
    return {"integer": "NUMBER", "number": "FLOAT", "boolean": "BOOLEAN", "object": "VARIANT", "array": "VARIANT"}[kind]


def utc(value: str) -> datetime:
    """A time as a naive UTC datetime: a record's RFC 3339 text, or a TIMESTAMP_NTZ read back."""
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def comparable(kind: str, value, from_table: bool):
    """A value of a record, or of a column read back, in a form both compare equal in."""
    if value is None:
        return None
    if kind == "VARIANT":
        # The connector returns a VARIANT as JSON text; JSON null is no value, as in a record.
        return json.loads(value) if from_table else value
    if kind == "TIMESTAMP_NTZ":
        return utc(value)
    if kind == "FLOAT":
        return float(value)
    return value


@dataclass
class Messages:
    """What one `meltano run` sent the target, from the launcher's copy of its input."""

    schemas: dict[str, dict] = field(default_factory=dict)
    keys: dict[str, list[str]] = field(default_factory=dict)
    records: dict[str, list[dict]] = field(default_factory=dict)  # RECORD messages, in order
    versions: dict[str, int] = field(default_factory=dict)  # the last ACTIVATE_VERSION of each stream

    @classmethod
    def read(cls, path: Path) -> Messages:
        messages = cls()
        for line in path.read_text().splitlines():
            message = json.loads(line)
            stream = message.get("stream")
            if message["type"] == "SCHEMA":
                messages.schemas[stream] = message["schema"]
                messages.keys[stream] = message["key_properties"]
            elif message["type"] == "RECORD":
                messages.records.setdefault(stream, []).append(message)
            elif message["type"] == "ACTIVATE_VERSION":
                messages.versions[stream] = message["version"]
        return messages


def key_of(keys: list[str], schema: dict, values: dict, from_table: bool) -> tuple:
    props = schema["properties"]
    return tuple(comparable(expected_type(props[k]), values.get(k.upper() if from_table else k), from_table) for k in keys)


def expected_rows(runs: Iterable[Messages], stream: str) -> tuple[dict, list[str], dict[tuple, dict], set[tuple]]:
    """The rows a table should hold after the runs, as upserts by key and ACTIVATE_VERSION make
    them: per key, the last RECORD message sent (record and version); and the keys whose last
    record is of a version older than the stream's last ACTIVATE_VERSION, which are retired
    (`_sdc_deleted_at` set). Also returns the stream's last schema and key properties."""
    schema, keys, rows, active = {}, [], {}, None
    for run in runs:
        if stream not in run.schemas:
            continue
        schema, keys = run.schemas[stream], run.keys[stream]
        for message in run.records.get(stream, []):
            rows[key_of(keys, schema, message["record"], False)] = message
        active = run.versions.get(stream, active)
    retired = {k for k, m in rows.items() if active is not None and m.get("version", active) < active}
    return schema, keys, rows, retired


def differences(schema: dict, keys: list[str], expected: dict[tuple, dict], retired: set[tuple], table: list[dict]) -> list[str]:
    """How the rows of a table differ from the expected ones (expected_rows): missing, extra or
    repeated keys, and every column of a property, _sdc_deleted_at and _sdc_table_version."""
    problems = []
    found: dict[tuple, dict] = {}
    for row in table:
        key = key_of(keys, schema, row, True)
        if key in found:
            problems.append(f"key {key} twice")
        found[key] = row
    missing, extra = set(expected) - set(found), set(found) - set(expected)
    if missing:
        problems.append(f"{len(missing)} keys sent, not in the table: {sorted(map(str, missing))[:3]}")
    if extra:
        problems.append(f"{len(extra)} keys in the table, not sent: {sorted(map(str, extra))[:3]}")
    for key in set(expected) & set(found):
        message, row = expected[key], found[key]
        record = message["record"]
        for prop, definition in schema["properties"].items():
            if prop == "_sdc_deleted_at":
                continue  # below
            kind = expected_type(definition)
            want, got = comparable(kind, record.get(prop), False), comparable(kind, row.get(prop.upper()), True)
            same = math.isclose(want, got) if kind == "FLOAT" and None not in (want, got) else want == got
            if not same:
                problems.append(f"{key} {prop}: sent {want!r}, the table has {got!r}")
        deleted = row.get("_SDC_DELETED_AT")
        if key in retired:
            if deleted is None:
                problems.append(f"{key}: retired by ACTIVATE_VERSION, yet _sdc_deleted_at is not set")
        elif comparable("TIMESTAMP_NTZ", record.get("_sdc_deleted_at"), False) != comparable("TIMESTAMP_NTZ", deleted, True):
            problems.append(f"{key}: _sdc_deleted_at {deleted!r}, the record has {record.get('_sdc_deleted_at')!r}")
        if row.get("_SDC_TABLE_VERSION") != message.get("version"):
            problems.append(f"{key}: _sdc_table_version {row.get('_SDC_TABLE_VERSION')}, the record's version is {message.get('version')}")
    return problems
