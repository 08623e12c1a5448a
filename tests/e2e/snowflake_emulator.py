#!/usr/bin/env python3
"""MeltanoLabs' target-snowflake, run in this process against fakesnow, a local Snowflake emulator.

The end-to-end checks' Meltano project has a loader `target-snowflake-emulator` that inherits
from `target-snowflake` (meltano.yml) and adds fakesnow to its pip_url, with this file as its
executable: Meltano runs it with the loader's virtual environment first on PATH, so `python3`
below is that environment's. It runs the real target (its types, names, quoting, merge keys and
ACTIVATE_VERSION handling) under `fakesnow.patch(db_path=…)`: every `snowflake.connector.connect`
of the target gets an in-process connection to DuckDB files in $SNOWFLAKE_EMULATOR_DB, one file
per database, which outlive the process. (fakesnow's server mode would need a host and port,
which target-snowflake has no setting for, and reads NULL timestamps back as 1970-01-01.)

The emulator cannot run everything the target sends. Only these statements are rewritten, at
the SQL text, each as little as it takes (the `Adapter` rules below):

- `PUT … '@~/…'`: the emulator has no user stage `@~` (and reads a quoted stage name with its
  quotes). An internal stage of the emulator, created on first use, stands in for it.
- `MERGE INTO t USING (SELECT $1:… FROM '@~/…' (file_format => f) QUALIFY …) s ON …`: the
  emulator's MERGE cannot read a stage, nor a source subquery with QUALIFY, and it has no
  SEQ8(). The staged file is loaded with the target's file format into a table of one VARIANT
  column (a plain COPY, which the emulator runs: it cannot COPY JSON with a column select); the
  target's own SELECT (its casts and aliases) and QUALIFY (its keys) are run over that table,
  with SEQ8() read as the load order; then the target's MERGE, from its ON on, verbatim, uses
  the result.
- `REMOVE '@~/…'`: unknown to the emulator; the staged files are deleted from its stage.
- `DROP FILE FORMAT`: unknown to the emulator; nothing to do (file formats live in the emulator's
  memory and go with the process).
- `COPY INTO … FROM (SELECT $1:… FROM '@~/…')`, the target's load for a stream without key
  properties or with `load_method` other than upsert: not used here (every tap-intercom stream
  has a key), so it fails loudly rather than being emulated untested.

And one setting of the SDK: the emulator aborts on concurrent sessions, and the SDK drains up to
8 sinks at once in threads, so sinks are drained one at a time (`_MAX_PARALLELISM = 1`).

Environment:
  SNOWFLAKE_EMULATOR_DB          directory of the emulator's database files (required)
  SNOWFLAKE_EMULATOR_INPUT_COPY  if set, every line the target reads is also written to this
                                 file: the checks compare the tables with the RECORDs the tap sent
  SNOWFLAKE_EMULATOR_SQL_LOG     if set, every statement the target sends is appended to this
                                 file, as sent (before any rewrite)

`snowflake_emulator.py --query < statements.json` runs SQL for the checks instead of the
target: stdin {"database": …, "statements": [sql, …]}, stdout one {"columns": […], "rows": […]}
per statement, as JSON (timestamps ISO 8601, VARIANT as the JSON text the connector returns).
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import fakesnow
import fakesnow.transforms.stage as fake_stage
import singer_sdk.target_base
import snowflake.connector
from fakesnow.cursor import FakeSnowflakeCursor
from singer_sdk.singerlib.encoding.simple import SimpleSingerReader
from target_snowflake.target import TargetSnowflake

# The internal stage that stands in for the user stage `@~`, in each database's PUBLIC schema.
USER_STAGE = "PUBLIC.EMULATOR_USER_STAGE"
# Tables of the MERGE rewrite, dropped after each MERGE.
STAGED = "PUBLIC.EMULATOR_STAGED"
SOURCE = "PUBLIC.EMULATOR_SOURCE"
SUCCESS = "SELECT 'Statement executed successfully.' AS status"

# The statements as target-snowflake 0.20.4 writes them (connector.py `_get_put_statement`,
# `_get_merge_from_stage_statement`, `_get_copy_statement`, `_get_stage_files_remove_statement`).
PUT = re.compile(r"put (?P<file>\S+) '@~/(?P<path>[^']+)'", re.I | re.S)
MERGE = re.compile(
    r"merge into (?P<table>\S+) d using "
    r"\(select (?P<select>.+?) from '@~/(?P<path>[^']+)'\(file_format => (?P<format>[^)]+)\) (?P<dedup>qualify .+?)\) s "
    r"(?P<rest>on .+)",
    re.I | re.S,
)
COPY = re.compile(r"copy into \S+ .*'@~/", re.I | re.S)
REMOVE = re.compile(r"remove '@~/(?P<path>[^']+)'", re.I)
DROP_FILE_FORMAT = r"\s*drop\s+file\s+format\s"

_execute = FakeSnowflakeCursor.execute


def execute(self: FakeSnowflakeCursor, command: str, params: Any = None, *args: Any, **kwargs: Any) -> FakeSnowflakeCursor:
    """FakeSnowflakeCursor.execute, with the target's stage statements rewritten (module docstring)."""
    text = command.strip()
    database = self._conn.database
    if log := os.environ.get("SNOWFLAKE_EMULATOR_SQL_LOG"):
        with open(log, "a") as f:
            f.write(f"{text};\n")

    def run(sql: str) -> None:
        # On another cursor of the same session: the caller's cursor keeps the result of the
        # statement the target sent.
        _execute(self._conn.cursor(), sql)

    if m := PUT.fullmatch(text):
        run(f"CREATE SCHEMA IF NOT EXISTS {database}.PUBLIC")
        run(f"CREATE STAGE IF NOT EXISTS {database}.{USER_STAGE}")
        return _execute(self, f"put {m['file']} @{database}.{USER_STAGE}/{m['path']}", params, *args, **kwargs)
    if m := MERGE.fullmatch(text):
        run(f"CREATE OR REPLACE TABLE {database}.{STAGED} (EMULATOR_ROW VARIANT)")
        run(f"COPY INTO {database}.{STAGED} FROM @{database}.{USER_STAGE}/{m['path']} "
            f"FILE_FORMAT = (FORMAT_NAME = '{m['format']}')")
        # `$1` is the staged row; SEQ8() numbers the rows as read, which DuckDB's rowid is here.
        select = m["select"].replace("$1:", "EMULATOR_ROW:")
        dedup = re.sub(r"SEQ8\(\)", "EMULATOR_SEQ", m["dedup"], flags=re.I)
        run(f"CREATE OR REPLACE TABLE {database}.{SOURCE} AS SELECT {select} "
            f"FROM (SELECT EMULATOR_ROW, rowid AS EMULATOR_SEQ FROM {database}.{STAGED}) {dedup}")
        result = _execute(self, f"merge into {m['table']} d using {database}.{SOURCE} s {m['rest']}", *args, **kwargs)
        run(f"DROP TABLE {database}.{STAGED}")
        run(f"DROP TABLE {database}.{SOURCE}")
        return result
    if COPY.match(text):
        raise NotImplementedError("target-snowflake's COPY from its user stage (a stream without a key): not emulated")
    if m := REMOVE.fullmatch(text):
        shutil.rmtree(fake_stage.internal_dir(f"{database}.{USER_STAGE}", m["path"]), ignore_errors=True)
        return _execute(self, SUCCESS)
    return _execute(self, command, params, *args, **kwargs)


def copied(lines: TextIO, path: str) -> Iterator[str]:
    """The lines of `lines`, each also written to `path` as it is read."""
    with open(path, "w") as copy:
        for line in lines:
            copy.write(line)
            yield line


def plain(value: Any) -> Any:
    """A value of a result row as JSON can carry it."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def query() -> None:
    """Runs the statements on stdin for the checks; prints their results (module docstring)."""
    request = json.load(sys.stdin)
    conn = snowflake.connector.connect(database=request["database"], account="emulator", user="e2e", password="unused")
    cursor = conn.cursor()
    results = []
    for statement in request["statements"]:
        cursor.execute(statement)
        columns = [c[0] for c in cursor.description]
        results.append({"columns": columns, "rows": [[plain(v) for v in row] for row in cursor.fetchall()]})
    conn.close()
    json.dump(results, sys.stdout)


def main() -> None:
    db_path = os.environ.get("SNOWFLAKE_EMULATOR_DB")
    if not db_path or not Path(db_path).is_dir():
        sys.exit(f"snowflake_emulator: SNOWFLAKE_EMULATOR_DB must name a directory (it is {db_path!r})")
    FakeSnowflakeCursor.execute = execute
    try:
        with fakesnow.patch(db_path=db_path, nop_regexes=[DROP_FILE_FORMAT]):
            if sys.argv[1:] == ["--query"]:
                query()
                return
            singer_sdk.target_base._MAX_PARALLELISM = 1
            if copy := os.environ.get("SNOWFLAKE_EMULATOR_INPUT_COPY"):
                SimpleSingerReader.default_input = copied(sys.stdin, copy)
            TargetSnowflake.cli()
    finally:
        # fakesnow keeps its stages in a temporary directory it does not remove.
        shutil.rmtree(fake_stage.LOCAL_BUCKET_PATH, ignore_errors=True)


if __name__ == "__main__":
    main()
