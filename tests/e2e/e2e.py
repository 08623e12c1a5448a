"""End-to-end checks of tap-intercom where its users run it, on real software.

Run by tests/e2e/run, which starts PostgreSQL and the fake Intercom on loopback and passes their
addresses in PGHOST/PGPORT and FAKE_URL. Every check drives the built binary; nothing is mocked
but Intercom. In order:

1. Meltano: `meltano invoke tap-intercom --discover` and `--about --format json`.
2. `meltano run tap-intercom target-jsonl` and `... target-postgres`: every stream loaded, the
   row counts those of the fake, each column of the PostgreSQL type its JSON Schema promises.
   Then target-snowflake (MeltanoLabs', the real target run on fakesnow, a local Snowflake
   emulator: tests/e2e/snowflake_emulator.py): every row as its RECORD was sent, the column types
   (VARIANT, TIMESTAMP_NTZ, …, upper-case names), reserved words quoted in the target's SQL.
3. singer-check-tap (singer-tools, on standard input) and a Draft 7 JSON Schema validator with
   format checking over a whole sync's output.
4. The fake edits and adds records; a second `meltano run` of each loader continues from the
   state Meltano stored: exactly the changed and new records are read, rows are updated in place.
   The same for target-snowflake, from the Snowflake job's own state; rows of deleted records get
   _sdc_deleted_at (ACTIVATE_VERSION for full-table streams, a deleted conversation on 2.16).
5. `meltano select --exclude` removes a column from the loaded table; a `metadata` override to
   FULL_TABLE makes an incremental stream re-read everything.
6. singer-io drop-in: its config keys, its final state continued through Meltano, and its
   catalog's tables (created by target-postgres from singer-io's schemas) loaded by this tap
   without a column changing type.
7. The README: every `meltano` command of its shell blocks, as written and in order, in a fresh
   copy of the project, loading into a PostgreSQL role and database of its own; and its Use
   steps without Meltano (discover, select with jq, sync, state, incremental sync), as written.
8. One stream fails: with every incremental stream meltano.yml selects seeded at an early bookmark
   and the fake answering 400 to `POST /tickets/search`, `meltano run` of each loader exits 1 with
   the tap's CRITICAL line and an "Extractor failed" block; the state it keeps has tickets and
   ticket_parts at the seed and every other bookmark moved on, the loader has every other
   stream's records; with the fault removed, the next run reads tickets from the seed.

9. The README's Install, as written: `pip install` from the repository's git address (pointed at
   the local clone) and from a clone, both building the tap; the wheel maturin builds, installed
   into a virtual environment with no Rust on PATH, syncing from the fake; `cargo install`.
10. The README's own-project commands, as written, in a project `meltano init` makes: `meltano add
   --from-ref` the Hub definition (its pip_url's git address pointed at the local clone), `meltano
   config test`, `meltano select --list`.
11. Several workspaces: the README's inherited extractors and jobs pasted into the project, a
   second fake with the same records and another workspace id, both loaded into one PostgreSQL
   schema (first one after the other, then side by side): every row of both, told apart by
   `workspace_id`, and a state per extractor.

The figures it prints (row counts, column types) are the evidence quoted in README and issues.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from collections import Counter, defaultdict
from pathlib import Path

import jsonschema
import psycopg

import snowflake_checks

ROOT = Path(__file__).resolve().parents[2]
WORK = Path(os.environ["E2E_WORK"])
FAKE_URL = os.environ["FAKE_URL"]
TOKEN = "fake-token-0123456789"
VENV_BIN = ROOT / "target" / "e2e" / "meltano" / "bin"
CHECK_TAP = [str(ROOT / "target" / "e2e" / "singer-tools" / "bin" / "python"), str(ROOT / "tests" / "e2e" / "check_tap.py")]
TAP = ROOT / "target" / "release" / "tap-intercom"
CARGO_VERSION = re.search(r'^version = "([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M).group(1)
PROJECT = WORK / "project"
COMPAT = ROOT.parent / "shared" / "compat"
if not COMPAT.is_dir():
    COMPAT = ROOT / "tests" / "fixtures" / "singer-io"

INCREMENTAL = ["segments", "company_segments", "companies", "contacts", "conversations", "tickets", "articles"]
# Streams that later API versions bring (the tap's table says so; tests/it/new_streams.rs holds
# the same list): the loads on 2.14 (the default) have none of them, the load on 2.16 adds them.
LATER = {"brands": "2.15", "emails": "2.15", "conversation_handling_events": "2.15",
         "macros": "2.16", "office_hours_schedules": "2.16", "content_snippets": "2.16"}


# The exports (reporting datasets, message data): meltano.yml leaves them out of its selection,
# as they are not selected by default; tests/it/exports.rs checks them against the fake.
def is_export(stream: str) -> bool:
    return stream.startswith(("reporting_", "message_"))


class Failure(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def meltano_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_PROJECT_ROOT": str(PROJECT),
            "TAP_INTERCOM_ACCESS_TOKEN": TOKEN,
            "TAP_INTERCOM_BASE_URL": FAKE_URL,
            "TARGET_POSTGRES_HOST": os.environ["PGHOST"],
            "TARGET_POSTGRES_PORT": os.environ["PGPORT"],
            # The cluster trusts loopback; target-postgres wants a password all the same.
            "TARGET_POSTGRES_PASSWORD": "unused",
            # Every stream, users and leads too (meltano.yml leaves those two out), but the
            # exports, which are not selected by default (meltano.yml leaves them out too).
            "TAP_INTERCOM__SELECT": '["*.*", "!reporting_*.*", "!message_*.*"]',
        }
    )
    env.update(extra)
    return env


def meltano_status(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Runs meltano in the project; returns its exit code, stdout and log (stderr), whatever the exit."""
    command = [str(VENV_BIN / "meltano"), *args]
    result = subprocess.run(
        command,
        cwd=PROJECT,
        env=env or meltano_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = WORK / "meltano.log"
    with log.open("a") as f:
        f.write(f"\n$ meltano {' '.join(args)}\n{result.stderr}")
    return result


def meltano(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    """Runs meltano in the project; returns stdout, fails with its log on a non-zero exit."""
    result = meltano_status(*args, env=env, stdin=stdin)
    if result.returncode != 0:
        plain = [l for l in result.stderr.splitlines() if not l.startswith(("│", "╭", "╰"))]
        raise Failure(f"meltano {' '.join(args)} exited {result.returncode}:\n" + "\n".join(plain[-60:]))
    return result.stdout


def fake(path: str, method: str = "GET", url: str = FAKE_URL) -> dict:
    request = urllib.request.Request(
        url + path, method=method, headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def pg() -> psycopg.Connection:
    return psycopg.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="postgres", dbname="postgres")


def query(sql: str, *params) -> list[tuple]:
    with pg() as conn:
        return conn.execute(sql, params).fetchall()


def jsonl_records(directory: Path) -> dict[str, list[dict]]:
    """What target-jsonl wrote: records per stream."""
    records: dict[str, list[dict]] = defaultdict(list)
    for path in sorted(directory.glob("*.jsonl")):
        stream = path.name.rsplit("-", 1)[0]
        with path.open() as f:
            records[stream].extend(json.loads(line) for line in f if line.strip())
    return records


def expected_pg_type(prop: dict) -> str:
    """The column type MeltanoLabs target-postgres 0.8.1 gives a JSON Schema property."""
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else types
    non_null = [t for t in types if t != "null"]
    if len(non_null) != 1:
        return "text"
    kind = non_null[0]
    if kind == "string":
        return "timestamp without time zone" if prop.get("format") == "date-time" else "text"
    if kind == "array":
        items = prop.get("items", {})
        item_types = items.get("type", [])
        item_types = [item_types] if isinstance(item_types, str) else item_types
        item = [t for t in item_types if t != "null"]
        inner = {"string": "text", "integer": "bigint", "number": "numeric", "boolean": "boolean"}
        return "ARRAY of " + (inner.get(item[0], "jsonb") if len(item) == 1 else "jsonb")
    return {"integer": "bigint", "number": "numeric", "boolean": "boolean", "object": "jsonb"}[kind]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def columns(schema: str) -> dict[str, dict[str, str]]:
    rows = query(
        """select table_name, column_name, data_type, udt_name from information_schema.columns
           where table_schema = %s""",
        schema,
    )
    tables: dict[str, dict[str, str]] = defaultdict(dict)
    for table, column, data_type, udt in rows:
        if data_type == "ARRAY":
            element = {"_text": "text", "_int8": "bigint", "_numeric": "numeric", "_bool": "boolean", "_jsonb": "jsonb"}
            data_type = "ARRAY of " + element.get(udt, udt)
        tables[table][column] = data_type
    return tables


def count(schema: str, table: str) -> int:
    return query(f'select count(*) from "{schema}"."{table}"')[0][0]


def discover() -> dict:
    return json.loads(meltano("invoke", "tap-intercom", "--discover"))


def copy_source(dest: Path) -> None:
    """The repository's files as a clone holds them (tracked and new files, no build output or
    ignored files) into `dest`: a project whose `meltano install` builds the tap from source."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def installed_tap(project: Path) -> Path:
    return project / ".meltano" / "extractors" / "tap-intercom" / "venv" / "bin" / "tap-intercom"


def set_up_project() -> None:
    step("Meltano project: a fresh copy of the repository; meltano install builds the tap (pip_url) and installs the loaders")
    if PROJECT.exists():
        shutil.rmtree(PROJECT)
    copy_source(PROJECT)
    started = time.monotonic()
    meltano("install")
    version = subprocess.run([str(installed_tap(PROJECT)), "--version"], capture_output=True, text=True, check=True).stdout
    check(version.strip() == f"tap-intercom {CARGO_VERSION}", f"the installed tap says {version!r}")
    print(f"meltano install: the tap built by pip from the project's source ({version.strip()}), "
          f"target-jsonl, target-postgres and target-snowflake, in {time.monotonic() - started:.0f}s")


def check_invoke() -> dict:
    step("meltano invoke tap-intercom --discover / --about --format json")
    catalog = discover()
    about = json.loads(meltano("invoke", "tap-intercom", "--about", "--format", "json"))
    check(set(about["capabilities"]) >= {"catalog", "discover", "state", "about"}, f"capabilities {about}")
    for stream in catalog["streams"]:
        check(stream["tap_stream_id"] == stream["stream"], f"{stream['stream']}: tap_stream_id")
        check("type" in stream["schema"], f"{stream['stream']}: schema has no type")
    print(f"{len(catalog['streams'])} streams discovered; about lists {len(about['settings']['properties'])} settings")
    return catalog


def check_first_load(catalog: dict, summary: dict) -> dict[str, list[dict]]:
    step("meltano run tap-intercom target-jsonl; meltano run tap-intercom target-postgres")
    streams = sorted(s["tap_stream_id"] for s in catalog["streams"]
                     if s["tap_stream_id"] not in LATER and not is_export(s["tap_stream_id"]))
    meltano("run", "tap-intercom", "target-jsonl", env=meltano_env(TARGET_JSONL_DESTINATION_PATH=str(WORK / "run1")))
    records = jsonl_records(WORK / "run1")
    exports = sorted(s for s in records if is_export(s))
    check(not exports, f"the exports are not selected, yet {exports} were written")
    missing = [s for s in streams if not records.get(s)]
    check(not missing, f"target-jsonl got no records for {missing}")
    later = sorted(s for s in LATER if records.get(s))
    check(not later, f"2.14 has no {later}, yet they were written")
    for stream, expected in summary.items():
        if stream in records:
            check(len(records[stream]) == expected, f"{stream}: {len(records[stream])} records, the fake has {expected}")

    meltano("run", "tap-intercom", "target-postgres")
    tables = columns("tap_intercom")
    check(sorted(tables) == streams, f"tables {sorted(tables)} vs streams {streams}")
    print(f"{'stream':28} {'rows':>6}  {'fake':>6}  columns: type (as the schema promises)")
    for stream in catalog["streams"]:
        name = stream["tap_stream_id"]
        if name in LATER or is_export(name):
            continue
        rows = count("tap_intercom", name)
        keys = stream["key_properties"]
        distinct = query(f'select count(*) from (select distinct {", ".join(keys)} from "tap_intercom"."{name}") k')[0][0]
        check(rows == len(records[name]), f"{name}: {rows} rows in PostgreSQL, target-jsonl got {len(records[name])}")
        check(distinct == rows, f"{name}: duplicate keys")
        if name in summary:
            check(rows == summary[name], f"{name}: {rows} rows, the fake has {summary[name]}")
        found = tables[name]
        types = Counter()
        for prop, schema in stream["schema"]["properties"].items():
            want = expected_pg_type(schema)
            check(prop in found, f"{name}.{prop}: no column")
            check(found[prop] == want, f"{name}.{prop}: column is {found[prop]}, the schema promises {want}")
            types[want] += 1
        shown = ", ".join(f"{n} {t}" for t, n in sorted(types.items()))
        print(f"{name:28} {rows:>6}  {summary.get(name, '-'):>6}  {shown}")
    return records


def check_conformance() -> None:
    step("singer-check-tap (stdin) and a JSON Schema validator over a whole sync")
    config = WORK / "config.json"
    config.write_text(json.dumps({"access_token": TOKEN, "base_url": FAKE_URL}))
    output = subprocess.run(
        [str(TAP), "--config", str(config)], capture_output=True, text=True, check=True, timeout=600
    ).stdout
    checked = subprocess.run(CHECK_TAP, input=output, capture_output=True, text=True, timeout=600)
    check(checked.returncode == 0, f"singer-check-tap failed:\n{checked.stdout[-4000:]}\n{checked.stderr[-4000:]}")
    counted = [l.strip().rstrip(".,") for l in checked.stdout.splitlines() if "messages" in l]
    print("singer-check-tap: valid; " + ", ".join(counted))
    formats = jsonschema.Draft7Validator.FORMAT_CHECKER
    check("date-time" in formats.checkers, "jsonschema cannot check date-time here (rfc3339-validator missing)")
    validators = {}
    records = 0
    for line in output.splitlines():
        message = json.loads(line)
        if message["type"] == "SCHEMA":
            jsonschema.Draft7Validator.check_schema(message["schema"])
            validators[message["stream"]] = jsonschema.Draft7Validator(
                message["schema"], format_checker=formats
            )
        elif message["type"] == "RECORD":
            errors = list(validators[message["stream"]].iter_errors(message["record"]))
            check(not errors, f"{message['stream']}: {errors[0].message if errors else ''}")
            records += 1
    print(f"{records} records valid against their SCHEMA messages (Draft 7, formats checked)")


def check_second_run(catalog: dict, first: dict[str, list[dict]], since: str) -> dict:
    step("the fake edits, adds and deletes records; a second meltano run, on API version 2.16, continues from the stored state")
    bookmarks = json.loads(meltano("state", "get", "dev:tap-intercom-to-target-postgres"))["singer_state"]["bookmarks"]
    tables_before = columns("tap_intercom")
    report = fake("/_fake/evolve?every=10", method="POST")
    gone_conversation = str(report["conversations"]["deleted"][0])
    row_before = query('select id, state, created_at, updated_at, _sdc_deleted_at from "tap_intercom"."conversations" where id = %s', gone_conversation)
    # 2.16: the same tables in the same column types, and the conversations deleted since the
    # bookmark. The loads so far were on 2.14 (the default).
    newest = {"TAP_INTERCOM_API_VERSION": "2.16"}
    meltano("run", "tap-intercom", "target-jsonl", env=meltano_env(TARGET_JSONL_DESTINATION_PATH=str(WORK / "run2"), **newest))
    meltano("run", "tap-intercom", "target-postgres", env=meltano_env(**newest))
    second = jsonl_records(WORK / "run2")
    tables_after = columns("tap_intercom")
    changed_types = [
        f"{t}.{c}: {tables_before[t][c]} -> {tables_after[t].get(c)}"
        for t in tables_before for c in tables_before[t] if tables_after[t].get(c) != tables_before[t][c]
    ]
    check(not changed_types, f"column types changed on 2.16: {changed_types[:5]}")
    new_tables = sorted(set(tables_after) - set(tables_before))
    check(set(tables_before) <= set(tables_after) and new_tables == sorted(LATER),
          f"2.16 loaded other tables: new {new_tables}, expected {sorted(LATER)}")
    for stream in LATER:
        check(count("tap_intercom", stream) > 0 and len(second.get(stream, [])) > 0, f"{stream}: not loaded on 2.16")
    print(f"2.16 after 2.14: {sum(len(c) for c in tables_after.values())} columns in {len(tables_after)} tables, every type unchanged;"
          f" the streams 2.15 and 2.16 bring loaded: {', '.join(new_tables)}")
    state = json.loads(meltano("state", "get", "dev:tap-intercom-to-target-postgres"))
    check("bookmarks" in state.get("singer_state", {}), f"Meltano stored no bookmarks: {state}")
    keys = {s["tap_stream_id"]: s["key_properties"] for s in catalog["streams"]}
    print(f"{'stream':20} {'changed':>8} {'added':>6} {'read':>6} {'at bookmark':>12} {'rows before':>12} {'rows after':>11} {'rows loaded':>12}")
    for stream in [*INCREMENTAL, "activity_logs", "conversation_parts"]:
        changed = {str(i) for i in report[stream]["changed"]}
        added = {str(i) for i in report[stream]["added"]}
        read = {str(r["id"]) for r in second.get(stream, [])}
        # Bookmarks are inclusive (singer-io's rule): a record stamped exactly at the bookmark
        # is read again, and nothing else that did not change.
        key_field = "created_at" if stream == "activity_logs" else "updated_at"
        mark = instant(bookmarks[stream][key_field])
        at_mark = {str(r["id"]) for r in second.get(stream, []) if instant(r[key_field]) == mark}
        if stream == "conversation_parts":
            check(added <= read, f"{stream}: new parts not read: {sorted(added - read)[:5]}")
        else:
            deleted = {str(i) for i in report[stream].get("deleted", [])}
            extra = read - changed - added - deleted - at_mark
            check(not extra and changed | added | deleted <= read, f"{stream}: read {len(read)}, changed+added+deleted "
                  f"{len(changed | added | deleted)}: extra {sorted(extra)[:5]}, missing {sorted((changed | added | deleted) - read)[:5]}")
        rows = count("tap_intercom", stream)
        before = len(first[stream])
        check(rows == before + len(added), f"{stream}: {rows} rows, expected {before} + {len(added)} new")
        key = ", ".join(keys[stream])
        distinct = query(f'select count(*) from (select distinct {key} from "tap_intercom"."{stream}") k')[0][0]
        check(distinct == rows, f"{stream}: duplicate keys after the second run")
        loaded = query(f'select count(*) from "tap_intercom"."{stream}" where _sdc_batched_at > %s', since)[0][0]
        check(loaded == len(read), f"{stream}: {loaded} rows written by the second run, {len(read)} read")
        print(f"{stream:20} {len(changed):>8} {len(added):>6} {len(read):>6} {len(at_mark):>12} {before:>12} {rows:>11} {loaded:>12}")
    for stream in ("admins", "tags"):
        gone = {str(i) for i in report[stream]["deleted"]}
        rows = query(f'select id::text, _sdc_deleted_at from "tap_intercom"."{stream}"')
        marked = {r[0] for r in rows if r[1] is not None}
        check(gone and marked == gone, f"{stream}: deleted in Intercom {sorted(gone)}, marked deleted {sorted(marked)}")
        check(len(rows) == len(first[stream]), f"{stream}: {len(rows)} rows, the other rows untouched")
        print(f"{stream}: {sorted(gone)} deleted in the fake -> _sdc_deleted_at set by ACTIVATE_VERSION; {len(rows) - len(gone)} rows live")
    marked = query('select id from "tap_intercom"."conversations" where _sdc_deleted_at is not null')
    check([r[0] for r in marked] == [gone_conversation], f"conversations marked deleted: {marked}, deleted in the fake: {gone_conversation}")
    row_after = query('select id, state, created_at, updated_at, _sdc_deleted_at from "tap_intercom"."conversations" where id = %s', gone_conversation)
    print(f"conversations: {gone_conversation} deleted in the fake (GET /conversations/deleted on 2.16):")
    print(f"  before: {row_before}")
    print(f"  after:  {row_after}")
    for stream, field in [("contacts", "name"), ("companies", "name"), ("articles", "title")]:
        edited = query(f'select count(*) from "tap_intercom"."{stream}" where {field} like %s', "% (edited)")[0][0]
        check(edited == len(report[stream]["changed"]), f"{stream}: {edited} rows show the edit")
    print("edited rows show their new values; no key appears twice")
    return report


SNOWFLAKE_DB = WORK / "snowflake"  # the emulator's database files
SNOWFLAKE_STATE = f"dev:tap-intercom-to-{snowflake_checks.LOADER}"
# Columns named by words SQL reserves, which target-snowflake has to quote.
RESERVED = [("conversations", "user"), ("help_centers", "default"), ("help_center_collections", "order"),
            ("away_status_reasons", "order")]


def set_up_snowflake() -> None:
    step("target-snowflake: meltano.yml's settings against its --about; an inherited loader on the fakesnow emulator")
    about = json.loads(meltano("invoke", "target-snowflake", "--about", "--format", "json"))
    known = about["settings"]["properties"]
    declared = snowflake_checks.declared_settings(PROJECT)
    unknown = [s for s in declared if s not in known]
    check(not unknown, f"meltano.yml declares settings target-snowflake does not have: {unknown}")
    check(set(about["settings"].get("required", [])) <= set(declared), f"required settings not declared: {about['settings']}")
    SNOWFLAKE_DB.mkdir()
    loader = snowflake_checks.add_emulator_loader(PROJECT, SNOWFLAKE_DB)
    started = time.monotonic()
    meltano("install", snowflake_checks.LOADER)
    seconds = time.monotonic() - started
    venv = snowflake_checks.emulator_python(PROJECT).parents[1]
    size = sum(f.stat().st_size for f in venv.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"target-snowflake {about['version']}: the {len(declared)} settings meltano.yml declares are among its "
          f"{len(known)}; {snowflake_checks.LOADER} (pip_url {loader['pip_url']}) installed in {seconds:.0f}s, "
          f"{size / 1e6:.0f} MB")


def snowflake_run(name: str, **extra: str) -> snowflake_checks.Messages:
    """`meltano run tap-intercom target-snowflake-emulator`: what the target was sent. The target's
    statements go to WORK/snowflake-<name>-sql.log."""
    copy = WORK / f"snowflake-{name}.jsonl"
    started = time.monotonic()
    meltano("run", "tap-intercom", snowflake_checks.LOADER, env=meltano_env(
        SNOWFLAKE_EMULATOR_INPUT_COPY=str(copy), SNOWFLAKE_EMULATOR_SQL_LOG=str(WORK / f"snowflake-{name}-sql.log"),
        TARGET_SNOWFLAKE_EMULATOR_PASSWORD="unused", **extra))
    messages = snowflake_checks.Messages.read(copy)
    sent = sum(len(r) for r in messages.records.values())
    print(f"meltano run tap-intercom {snowflake_checks.LOADER}: {sent} records of {len(messages.schemas)} streams "
          f"in {time.monotonic() - started:.1f}s")
    return messages


def snowflake_tables(streams: list[str]) -> tuple[dict[str, dict[str, str]], dict[str, list[dict]]]:
    """The emulator's tables of the streams: column types by table, and the rows."""
    results = snowflake_checks.query(PROJECT, SNOWFLAKE_DB, [
        f"select table_name, column_name, data_type from information_schema.columns where table_schema = '{snowflake_checks.SCHEMA}'",
        *(f'select * from {snowflake_checks.SCHEMA}."{s.upper()}"' for s in streams),
    ])
    types: dict[str, dict[str, str]] = defaultdict(dict)
    for row in results[0]:
        types[row["TABLE_NAME"]][row["COLUMN_NAME"]] = row["DATA_TYPE"]
    return types, dict(zip(streams, results[1:]))


def check_snowflake_tables(runs: list[snowflake_checks.Messages], streams: list[str],
                           show: bool) -> tuple[dict[str, dict[str, str]], dict[str, list[dict]]]:
    """Every table of the streams holds what the runs sent, as upserts and ACTIVATE_VERSION make
    it (snowflake_checks.differences), in columns of the types target-snowflake maps the schema
    to, named in upper case; returns the column types and the rows. With `show`, prints the rows
    and column types of each stream."""
    types, tables = snowflake_tables(streams)
    check(sorted(types) == sorted(s.upper() for s in streams), f"Snowflake tables {sorted(types)}, streams {streams}")
    if show:
        print(f"{'stream':28} {'rows':>6} {'sent':>6}  columns: type (as target-snowflake maps the schema)")
    for stream in streams:
        schema, keys, expected, retired = snowflake_checks.expected_rows(runs, stream)
        problems = snowflake_checks.differences(schema, keys, expected, retired, tables[stream])
        check(not problems, f"Snowflake {stream}: " + "; ".join(problems[:5]))
        found = types[stream.upper()]
        want = {p.upper(): snowflake_checks.expected_type(d) for p, d in schema["properties"].items()}
        want = {**snowflake_checks.SDC_TYPES, **want}
        wrong = {c: (found.get(c), t) for c, t in want.items() if found.get(c) != t}
        check(not wrong, f"Snowflake {stream}: columns (found, expected) {wrong}")
        check(set(found) == set(want), f"Snowflake {stream}: columns {sorted(set(found) - set(want))} not in the schema")
        if show:
            sent = sum(len(r.records.get(stream, [])) for r in runs)
            shown = ", ".join(f"{n} {t}" for t, n in sorted(Counter(want.values()).items()))
            print(f"{stream:28} {len(tables[stream]):>6} {sent:>6}  {shown}")
    return types, tables


def check_snowflake_first_load(catalog: dict) -> snowflake_checks.Messages:
    step("meltano run tap-intercom target-snowflake-emulator: the full sync into target-snowflake on fakesnow")
    started = time.monotonic()
    run = snowflake_run("run1")
    streams = sorted(s["tap_stream_id"] for s in catalog["streams"]
                     if s["tap_stream_id"] not in LATER and not is_export(s["tap_stream_id"]))
    check(sorted(run.schemas) == streams, f"target-snowflake was sent {sorted(run.schemas)}, not {streams}")
    types, tables = check_snowflake_tables([run], streams, show=True)
    print("every row as its RECORD was sent (values, keys once each, _sdc_table_version, _sdc_deleted_at empty)")
    statements = (WORK / "snowflake-run1-sql.log").read_text().split(";\n")
    for stream, prop in RESERVED:
        column = prop.upper()
        check(prop in run.schemas[stream]["properties"], f"{stream}: no property {prop}")
        table = f'"{snowflake_checks.SCHEMA}"."{stream.upper()}"'
        ddl = [s for s in statements if s.startswith(f"CREATE TABLE {table}")]
        merges = [s for s in statements if s.startswith(f"merge into \"{snowflake_checks.DATABASE}\".{table}")]
        # The DDL names the type as SQLAlchemy compiles it (DECIMAL for NUMBER).
        quoted = re.search(rf'\s("{column}" [A-Z_]+)', ddl[0]) if len(ddl) == 1 else None
        check(quoted is not None, f"{stream}.{prop}: the target's CREATE TABLE does not quote {column}: {ddl}")
        check(merges and all(f'd."{column}" = s."{column}"' in m for m in merges), f"{stream}.{prop}: a MERGE does not quote it")
        values = sum(1 for r in tables[stream] if r[column] is not None)
        sent = sum(1 for m in run.records[stream] if m["record"].get(prop) is not None)
        print(f"{stream}.{prop}: column {quoted.group(1)} (CREATE TABLE), {types[stream.upper()][column]} "
              f"in information_schema; MERGE sets d.\"{column}\" = s.\"{column}\"; "
              f"{values} of {len(tables[stream])} rows have a value, as sent")
    bookmarks = json.loads(meltano("state", "get", SNOWFLAKE_STATE))["singer_state"]["bookmarks"]
    check(set(INCREMENTAL) <= set(bookmarks), f"{SNOWFLAKE_STATE}: bookmarks {sorted(bookmarks)}")
    print(f"Meltano stored the state of {SNOWFLAKE_STATE} ({len(bookmarks)} bookmarks); "
          f"the Snowflake step took {time.monotonic() - started:.0f}s")
    return run


def check_snowflake_incremental(catalog: dict, report: dict, first: snowflake_checks.Messages) -> None:
    step("the fake's edits into target-snowflake: meltano run on 2.16 continues from the Snowflake job's stored state")
    started = time.monotonic()
    bookmarks = json.loads(meltano("state", "get", SNOWFLAKE_STATE))["singer_state"]["bookmarks"]
    types_before, before = snowflake_tables(sorted(first.schemas))
    second = snowflake_run("run2", TAP_INTERCOM_API_VERSION="2.16")
    new_streams = sorted(set(second.schemas) - set(first.schemas))
    check(new_streams == sorted(LATER), f"2.16 sent streams {new_streams} beyond 2.14's, expected {sorted(LATER)}")
    streams = sorted(set(first.schemas) | set(second.schemas))
    types_after, tables = check_snowflake_tables([first, second], streams, show=False)
    changed_types = [f"{t}.{c}: {types_before[t][c]} -> {types_after[t].get(c)}"
                     for t in types_before for c in types_before[t] if types_after[t].get(c) != types_before[t][c]]
    check(not changed_types, f"Snowflake column types changed on 2.16: {changed_types[:5]}")
    print(f"every table holds the last record sent for each key, over both runs; no column changed type; "
          f"2.16's streams are new tables: {', '.join(new_streams)}")
    filled = [f"{s}.{p.upper()} {sum(1 for r in tables[s] if r[p.upper()] is not None)}/{len(tables[s])}" for s, p in RESERVED]
    print(f"rows with a value in the reserved-word columns, as sent: {', '.join(filled)}")
    print(f"{'stream':20} {'changed':>8} {'added':>6} {'read':>6} {'at bookmark':>12} {'rows before':>12} {'rows after':>11}")
    for stream in [*INCREMENTAL, "activity_logs", "conversation_parts"]:
        changed = {str(i) for i in report[stream]["changed"]}
        added = {str(i) for i in report[stream]["added"]}
        records = [m["record"] for m in second.records.get(stream, [])]
        read = {str(r["id"]) for r in records}
        key_field = "created_at" if stream == "activity_logs" else "updated_at"
        mark = instant(bookmarks[stream][key_field])
        at_mark = {str(r["id"]) for r in records if r.get(key_field) and instant(r[key_field]) == mark}
        if stream == "conversation_parts":
            check(added <= read, f"Snowflake {stream}: new parts not read: {sorted(added - read)[:5]}")
        else:
            deleted = {str(i) for i in report[stream].get("deleted", [])}
            extra = read - changed - added - deleted - at_mark
            check(not extra and changed | added | deleted <= read, f"Snowflake {stream}: read {len(read)}: extra "
                  f"{sorted(extra)[:5]}, missing {sorted((changed | added | deleted) - read)[:5]}")
        rows, rows_before = len(tables[stream]), len(before[stream])
        check(rows == rows_before + len(added), f"Snowflake {stream}: {rows} rows, expected {rows_before} + {len(added)} new")
        print(f"{stream:20} {len(changed):>8} {len(added):>6} {len(read):>6} {len(at_mark):>12} {rows_before:>12} {rows:>11}")
    for stream in ("admins", "tags"):
        gone = {str(i) for i in report[stream]["deleted"]}
        marked = {str(r["ID"]) for r in tables[stream] if r["_SDC_DELETED_AT"] is not None}
        check(gone and marked == gone, f"Snowflake {stream}: deleted in the fake {sorted(gone)}, marked {sorted(marked)}")
        print(f"{stream}: {sorted(gone)} deleted in the fake -> _SDC_DELETED_AT set by ACTIVATE_VERSION; "
              f"{len(tables[stream]) - len(gone)} rows live")
    gone_conversation = str(report["conversations"]["deleted"][0])
    marked = [r for r in tables["conversations"] if r["_SDC_DELETED_AT"] is not None]
    check([r["ID"] for r in marked] == [gone_conversation], f"Snowflake conversations marked deleted: {[r['ID'] for r in marked]}")
    row = marked[0]
    print(f"conversations: {gone_conversation} deleted in the fake -> ID {row['ID']}, STATE {row['STATE']}, "
          f"UPDATED_AT {row['UPDATED_AT']}, _SDC_DELETED_AT {row['_SDC_DELETED_AT']}")
    print(f"the Snowflake step took {time.monotonic() - started:.0f}s")


def check_select_and_metadata(summary: dict, report: dict) -> None:
    step("meltano select --exclude removes a column; a metadata override to FULL_TABLE re-reads")
    meltano("select", "tap-intercom", "--exclude", "contacts", "email")
    env = meltano_env(TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA="selected")
    del env["TAP_INTERCOM__SELECT"]  # use meltano.yml's select, now with !contacts.email
    meltano("run", "--state-id-suffix", "select", "tap-intercom", "target-postgres", env=env)
    found = columns("selected")
    check("email" not in found["contacts"], "contacts.email still loaded after meltano select --exclude")
    check({"id", "updated_at", "name"} <= set(found["contacts"]), "contacts lost other columns")
    check("users" not in found and "leads" not in found, "users or leads loaded though meltano.yml leaves them out")
    print(f"contacts loaded with {len(found['contacts'])} columns, email not among them; users and leads not loaded")

    override = json.dumps({"conversations": {"replication-method": "FULL_TABLE"}})
    out = WORK / "full"
    meltano(
        "run", "tap-intercom", "target-jsonl",
        env=meltano_env(TAP_INTERCOM__METADATA=override, TARGET_JSONL_DESTINATION_PATH=str(out)),
    )
    records = jsonl_records(out)
    check(len(records["conversations"]) == summary["conversations"],
          f"FULL_TABLE conversations: {len(records['conversations'])} of {summary['conversations']}")
    # Contacts continue from their bookmark, which stays search_index_lag (600 s) behind the
    # previous run's start: only the contacts edited minutes ago come again.
    recent = {str(i) for i in report["contacts"]["changed"] + report["contacts"]["added"]}
    again = {str(r["id"]) for r in records.get("contacts", [])}
    check(again == recent, f"contacts re-read: {sorted(again)[:5]}, edited within the index lag: {sorted(recent)[:5]}")
    print(f"FULL_TABLE override: all {summary['conversations']} conversations re-read; contacts continued "
          f"from their bookmark ({len(again)} read, all changed within the index lag)")


def check_singer_io_dropin(summary: dict, discovered_catalog: dict) -> None:
    step("drop-in for singer-io: its config keys, its state through Meltano, its tables")
    config = WORK / "singer-io-config.json"
    config.write_text(json.dumps({
        "access_token": TOKEN, "start_date": "2020-01-01T00:00:00Z", "request_timeout": 300, "user_agent": "e2e",
    }))
    catalog = WORK / "tags-catalog.json"
    discovered = json.loads(subprocess.run([str(TAP), "--config", str(config), "--discover"],
                                           capture_output=True, text=True, check=True, timeout=60).stdout)
    for stream in discovered["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == "tags"
    catalog.write_text(json.dumps(discovered))
    env = dict(os.environ, TAP_INTERCOM_BASE_URL=FAKE_URL)
    run = subprocess.run([str(TAP), "--config", str(config), "--catalog", str(catalog)],
                         capture_output=True, text=True, env=env, timeout=300)
    check(run.returncode == 0, f"singer-io's config keys: {run.stderr[-2000:]}")
    tags = [json.loads(l) for l in run.stdout.splitlines() if '"RECORD"' in l]
    check(len(tags) == summary["tags"], f"tags with singer-io's config: {len(tags)}")
    print(f"singer-io's config (access_token, start_date, request_timeout, user_agent) syncs: {len(tags)} tags")

    state = json.loads((COMPAT / "singer-io-state.json").read_text())
    meltano("state", "set", "--force", "dev:tap-intercom-to-target-jsonl:compat", json.dumps({"singer_state": state}))
    out = WORK / "compat"
    meltano("run", "--state-id-suffix", "compat", "tap-intercom", "target-jsonl",
            env=meltano_env(TARGET_JSONL_DESTINATION_PATH=str(out)))
    records = jsonl_records(out)
    stored = json.loads(meltano("state", "get", "dev:tap-intercom-to-target-jsonl:compat"))["singer_state"]
    for stream, bookmark in state["bookmarks"].items():
        mark = bookmark["updated_at"]
        emitted = records.get(stream, [])
        # The fake edited records of each of these streams minutes ago, after every bookmark.
        check(bool(emitted), f"{stream}: nothing read after singer-io's bookmark {mark}")
        if stream == "conversation_parts":
            # Parts come with their conversation: every part of a conversation read again.
            parents = {r["id"] for r in records.get("conversations", [])}
            orphans = [r for r in emitted if r["conversation_id"] not in parents]
            check(not orphans, f"{stream}: {len(orphans)} parts of conversations not read")
        else:
            early = [r for r in emitted if instant(r["updated_at"]) < instant(mark)]
            check(not early, f"{stream}: {len(early)} records older than singer-io's bookmark {mark}")
        check(stream in stored["bookmarks"], f"{stream}: bookmark lost")
        now = stored["bookmarks"][stream]["updated_at"]
        check(instant(now) >= instant(mark), f"{stream}: bookmark went back from {mark} to {now}")
        print(f"{stream:20} singer-io bookmark {mark}  read {len(emitted):>4}  now {stored['bookmarks'][stream]['updated_at']}")

    # singer-io's tables, created by target-postgres from singer-io's own catalog, then loaded by this tap.
    singer_io = json.loads((COMPAT / "singer-io-catalog.json").read_text())
    messages = []
    for stream in singer_io["streams"]:
        messages.append({"type": "SCHEMA", "stream": stream["tap_stream_id"], "schema": stream["schema"],
                         "key_properties": stream["key_properties"]})
        record = {key: "singer-io-row" for key in stream["key_properties"]}
        messages.append({"type": "RECORD", "stream": stream["tap_stream_id"], "record": record})
    env = meltano_env(TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA="singer_io")
    meltano("invoke", "target-postgres", env=env, stdin="\n".join(json.dumps(m) for m in messages) + "\n")
    before = columns("singer_io")
    meltano("run", "--full-refresh", "--state-id-suffix", "singer-io", "tap-intercom", "target-postgres", env=env)
    after = columns("singer_io")
    changed = []
    for stream in singer_io["streams"]:
        name = stream["tap_stream_id"]
        mine = next(s for s in discovered_catalog["streams"] if s["tap_stream_id"] == name)
        check(mine["key_properties"] == stream["key_properties"], f"{name}: key differs from singer-io's")
        for column in stream["schema"]["properties"]:
            check(column in mine["schema"]["properties"], f"{name}.{column}: singer-io's column is not in this tap's schema")
            if after[name][column] != before[name][column]:
                changed.append(f"{name}.{column}: {before[name][column]} -> {after[name][column]}")
        rows = count("singer_io", name)
        check(rows == summary[name] + 1, f"{name}: {rows} rows, expected singer-io's 1 and the fake's {summary[name]}")
    check(not changed, "columns changed type: " + "; ".join(changed))
    ours = columns("tap_intercom")
    differ = [
        f"{stream['tap_stream_id']}.{column} ({before[stream['tap_stream_id']][column]} there, {ours[stream['tap_stream_id']][column]} here)"
        for stream in singer_io["streams"]
        for column in stream["schema"]["properties"]
        if before[stream["tap_stream_id"]][column] != ours[stream["tap_stream_id"]][column]
    ]
    print(f"columns whose type differs in a fresh table (each loads into singer-io's): {len(differ)}")
    for stream in singer_io["streams"]:
        name = stream["tap_stream_id"]
        for column in stream["schema"]["properties"]:
            if before[name][column] == "text" and ours[name][column] == "jsonb":
                # singer-io wrote Python reprs here; this tap writes JSON, which the text column keeps.
                # target-postgres writes a null object as JSON null: the text 'null' here.
                values = query(
                    f'select "{column}" from "singer_io"."{name}" where "{column}" is not null and "{column}" <> %s limit 5',
                    "null",
                )
                check(bool(values), f"{name}.{column}: no values loaded")
                for (value,) in values:
                    check(isinstance(json.loads(value), dict), f"{name}.{column}: {value!r} is not a JSON object")
                print(f"  {name}.{column}: {len(values)} sampled values in singer-io's text column are JSON, e.g. {values[0][0]}")
    total = sum(len(s["schema"]["properties"]) for s in singer_io["streams"])
    print(f"{len(singer_io['streams'])} singer-io tables, {total} columns: all loaded by this tap, no type changed")


def readme_commands() -> list[str]:
    """The README's `meltano` commands (and the password export they need), in order, as written."""
    commands = []
    for block in re.findall(r"```(?:sh|bash)\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#\s.*$", "", line).strip()
            words = command.split()
            while words and re.match(r"^[A-Z][A-Z0-9_]*=", words[0]):
                words = words[1:]
            if (words and words[0] == "meltano") or command.startswith("export TARGET_POSTGRES_"):
                commands.append(command)
    return commands


def check_readme_commands() -> None:
    step("the README's meltano commands, as written, in a fresh copy of the project and a database of its own")
    readme = (ROOT / "README.md").read_text()
    pinned = re.search(r"meltano==([0-9.]+)", (ROOT / "tests" / "e2e" / "setup").read_text()).group(1)
    shown = re.findall(r"pip install meltano==([0-9.]+)", readme)
    check(shown == [pinned], f"the README installs meltano {shown}, the checks run {pinned}")
    commands = readme_commands()
    check(len(commands) >= 10, f"only {len(commands)} meltano commands found in the README")
    project = WORK / "readme-project"
    copy_source(project)
    with psycopg.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("create role loader login password 'loader-secret'")
        conn.execute("create database analytics owner loader")
    env = {k: v for k, v in meltano_env().items() if not k.startswith("TARGET_POSTGRES_") and k != "TAP_INTERCOM__SELECT"}
    env.update(
        MELTANO_PROJECT_ROOT=str(project),
        PATH=f"{VENV_BIN}:{env['PATH']}",
        PGUSER="loader",
        PGDATABASE="analytics",
        PGPASSWORD="loader-secret",
    )
    script = "set -euo pipefail\n" + "".join(f"echo '$ {c}' >&2\n{c}\n" for c in commands)
    result = subprocess.run(["bash", "-c", script], cwd=project, env=env, capture_output=True, text=True, timeout=1800)
    (WORK / "readme.log").write_text(result.stderr)
    if result.returncode != 0:
        plain = [l for l in result.stderr.splitlines() if not l.startswith(("│", "╭", "╰"))]
        raise Failure(f"a README command failed (exit {result.returncode}):\n" + "\n".join(plain[-40:]))
    for command in commands:
        print(f"  $ {command}")
    config = yaml_config(project / "meltano.yml")
    for key, value in [("host", env["PGHOST"]), ("port", env["PGPORT"]), ("user", "loader"), ("database", "analytics"),
                       ("default_target_schema", "intercom")]:
        check(str(config.get(key)) == value, f"meltano.yml's target-postgres {key} is {config.get(key)!r}, not {value!r}")
    check("loader-secret" not in (project / "meltano.yml").read_text(), "the password went into meltano.yml")
    try:
        psycopg.connect(host=env["PGHOST"], port=env["PGPORT"], user="loader", password="wrong", dbname="analytics").close()
        raise Failure("the loader role logs in with a wrong password: the password check proves nothing")
    except psycopg.OperationalError:
        pass
    with psycopg.connect(host=env["PGHOST"], port=env["PGPORT"], user="loader", password="loader-secret", dbname="analytics") as conn:
        tables = conn.execute(
            "select tablename, tableowner from pg_tables where schemaname = 'intercom' order by tablename"
        ).fetchall()
        check(tables and all(owner == "loader" for _, owner in tables), f"tables in analytics.intercom: {tables}")
        rows = {t: conn.execute(f'select count(*) from intercom."{t}"').fetchone()[0] for t, _ in tables}
    check(rows.get("admins", 0) > 0 and "conversations" in rows, f"rows: {rows}")
    jsonl = jsonl_records(project / "output")
    check(jsonl.get("admins"), "target-jsonl wrote nothing to output/")
    print(f"{len(commands)} commands; analytics.intercom: {len(tables)} tables owned by loader, "
          f"{sum(rows.values())} rows; output/: {sum(len(r) for r in jsonl.values())} records")


def check_readme_use() -> None:
    step("the README's Use steps, as written: discover, select with jq, sync, state, incremental sync")
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Use\n\n```sh\n(.*?)```", text, re.S).group(1)
    work = WORK / "readme-use"
    work.mkdir()
    (work / "config.json").write_text(json.dumps({"access_token": TOKEN, "base_url": FAKE_URL}))
    env = dict(os.environ, PATH=f"{TAP.parent}:{os.environ['PATH']}")
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=work, env=env,
                            capture_output=True, text=True, timeout=600)
    check(result.returncode == 0, f"the README's Use steps failed:\n{result.stderr[-3000:]}")
    def records(lines: list[str]) -> Counter:
        # Singer messages are one object a line; --about's pretty JSON follows them on stdout.
        messages = [json.loads(l) for l in lines if l.startswith('{"type"')]
        return Counter(m["stream"] for m in messages if m["type"] == "RECORD")
    first = records((work / "out.jsonl").read_text().splitlines())
    second = records(result.stdout.splitlines())
    check('"capabilities"' in result.stdout, "--about printed nothing")
    check(set(first) == {"contacts", "tags"}, f"the first sync wrote {dict(first)}")
    check(second["tags"] == first["tags"], f"tags (full table) read whole again: {second['tags']} of {first['tags']}")
    check(second["contacts"] < first["contacts"], f"the incremental sync read {second['contacts']} of {first['contacts']} contacts")
    state = json.loads((work / "state.json").read_text())
    check("contacts" in state.get("bookmarks", {}), f"state.json: {state}")
    print(f"first sync: {dict(first)}; incremental: {dict(second)}; state.json has the contacts bookmark; --about printed")


# The repository's public addresses, as the README and the Hub definition give them. The checks
# have no network: git fetches the repository from the local clone instead (git's own
# `url.<base>.insteadOf`), and `--from-ref` reads the definition from the clone's file.
REPOSITORY = "https://github.com/tap-intercom-rs/tap-intercom"
RAW = "https://raw.githubusercontent.com/tap-intercom-rs/tap-intercom/main/"


def offline_git_env(env: dict[str, str]) -> dict[str, str]:
    """`env` in which git clones the repository's GitHub address from the local clone."""
    return dict(env, GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0=f"url.file://{ROOT}.insteadOf",
                GIT_CONFIG_VALUE_0=f"{REPOSITORY}.git")


def readme_block(heading: str, fence: str) -> list[str]:
    """The commands of the first ```fence block after `heading` in the README, comments cut."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading + "\n"):]
    block = re.search(rf"```{fence}\n(.*?)```", section, re.S).group(1)
    return [c for l in block.splitlines() if (c := re.sub(r"\s+#\s.*$", "", l).strip())]


def run_commands(commands: list[str], cwd: Path, env: dict[str, str], log: str, timeout: int = 1800) -> None:
    """Runs `commands` in one shell, stopping at the first failure; their output and log go to
    WORK/`log`, each after the command it came from."""
    script = "set -euo pipefail\n" + "".join(f"echo '$ {c}'\n{c}\n" for c in commands)
    result = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=timeout)
    (WORK / log).write_text(result.stdout)
    if result.returncode != 0:
        plain = [l for l in result.stdout.splitlines() if not l.startswith(("│", "╭", "╰"))]
        raise Failure(f"{log}: a command failed (exit {result.returncode}):\n" + "\n".join(plain[-40:]))


def no_rust_path(venv: Path) -> str:
    """A PATH with the virtual environment and the system's directories, and no Rust."""
    path = f"{venv / 'bin'}:/usr/bin:/bin"
    for tool in ("cargo", "rustc", "rustup"):
        check(shutil.which(tool, path=path) is None, f"{tool} is on {path}: the wheel check would prove nothing")
    return path


def check_install() -> None:
    step("the README's Install: pip from git and from a clone, a wheel into an environment without Rust, cargo install")
    clone = WORK / "clone"
    copy_source(clone)
    commands = readme_block("## Install", "sh")
    check(any("git+" in c for c in commands) and "pip install ." in commands, f"the README's pip commands: {commands}")
    venv = WORK / "pip-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = offline_git_env(dict(os.environ, PATH=f"{venv / 'bin'}:{os.environ['PATH']}", PIP_DISABLE_PIP_VERSION_CHECK="1"))
    started = time.monotonic()
    run_commands(commands, clone, env, "install-pip.log")
    built = time.monotonic() - started
    tap = venv / "bin" / "tap-intercom"
    version = subprocess.run([str(tap), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    check(version == f"tap-intercom {CARGO_VERSION}", f"pip's tap says {version!r}")
    log = (WORK / "install-pip.log").read_text()
    check(f"git clone --filter=blob:none --quiet {REPOSITORY}.git" in log, "pip did not clone the repository for the git+ install")

    # The wheel: built as the README says, installed and run where there is no Rust.
    wheel_commands = readme_block("A wheel built once", "sh")
    started = time.monotonic()
    run_commands(wheel_commands[:1], clone, env, "wheel-build.log")
    wheel_time = time.monotonic() - started
    wheels = sorted((clone / "dist").glob("tap_intercom-*.whl"))
    check(len(wheels) == 1, f"wheels built: {wheels}")
    wheel = wheels[0]
    check(re.fullmatch(rf"tap_intercom-{re.escape(CARGO_VERSION)}-py3-none-manylinux_2_\d+_x86_64\.whl", wheel.name),
          f"the wheel's name {wheel.name}")
    bare = WORK / "wheel-venv"
    subprocess.run([sys.executable, "-m", "venv", str(bare)], check=True)
    bare_env = {"PATH": no_rust_path(bare), "HOME": str(WORK / "no-rust-home"), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "PIP_NO_INDEX": "1"}
    run_commands(wheel_commands[1:], clone, bare_env, "wheel-install.log")
    tap = bare / "bin" / "tap-intercom"
    version = subprocess.run([str(tap), "--version"], env=bare_env, capture_output=True, text=True, check=True).stdout.strip()
    check(version == f"tap-intercom {CARGO_VERSION}", f"the wheel's tap says {version!r}")
    config = WORK / "wheel-config.json"
    config.write_text(json.dumps({"access_token": TOKEN, "base_url": FAKE_URL}))
    sync = subprocess.run([str(tap), "--config", str(config)], env=bare_env, capture_output=True, text=True, timeout=600)
    check(sync.returncode == 0, f"the wheel's tap failed to sync:\n{sync.stderr[-2000:]}")
    records = Counter(m["stream"] for m in map(json.loads, sync.stdout.splitlines()) if m["type"] == "RECORD")
    summary = fake("/_fake/summary")
    check(records["admins"] == summary["admins"] and records["conversations"] == summary["conversations"],
          f"the wheel's tap read {dict(records)}")

    # cargo install, as written, into a root of the check's own (the build is the clone's).
    cargo = readme_block("Without Python:", "sh")
    check(cargo[0] == "cargo install --path .", f"the README's cargo command: {cargo}")
    run_commands(cargo[:1], clone, dict(os.environ, CARGO_INSTALL_ROOT=str(WORK / "cargo-root")), "cargo-install.log")
    version = subprocess.run([str(WORK / "cargo-root" / "bin" / "tap-intercom"), "--version"], capture_output=True,
                             text=True, check=True).stdout.strip()
    check(version == f"tap-intercom {CARGO_VERSION}", f"cargo install's tap says {version!r}")
    size = wheel.stat().st_size
    print(f"pip from git and from a clone: {built:.0f}s (both built from source); wheel {wheel.name}, "
          f"{size / 1e6:.1f} MB, built in {wheel_time:.0f}s; installed with no Rust on PATH, synced "
          f"{sum(records.values())} records; cargo install: {version}")


def check_meltano_add() -> None:
    step("the README's own-project commands, as written, in a new project made by meltano init")
    commands = readme_block("### In your own Meltano project", "shell")
    definition = ROOT / "meltano-hub" / "extractors" / "tap-intercom" / "tap-intercom-rs.yml"
    check(any(RAW + "meltano-hub/extractors/tap-intercom/tap-intercom-rs.yml" in c for c in commands),
          f"the README does not add the Hub definition by its address: {commands}")
    commands = [c.replace(RAW, f"{ROOT}/") for c in commands]
    project = WORK / "own-project"
    env = {k: v for k, v in meltano_env().items() if k != "TAP_INTERCOM__SELECT"}
    env = offline_git_env(dict(env, MELTANO_PROJECT_ROOT=str(project), PATH=f"{VENV_BIN}:{env['PATH']}"))
    run_commands([f"meltano init {project.name} --no_usage_stats"], WORK, env, "meltano-init.log")
    started = time.monotonic()
    run_commands(commands, project, env, "own-project.log")
    took = time.monotonic() - started
    log = (WORK / "own-project.log").read_text()
    plugin = [p for p in yaml_load(project / "meltano.yml")["plugins"].get("extractors", []) if p["name"] == "tap-intercom"]
    check(len(plugin) == 1, f"meltano add wrote {plugin}")
    plugin = plugin[0]
    hub = yaml_load(definition)
    check(plugin["pip_url"] == hub["pip_url"] == f"git+{REPOSITORY}.git", f"pip_url {plugin['pip_url']}")
    check([s["name"] for s in plugin["settings"]] == [s["name"] for s in hub["settings"]], "settings differ from the Hub file")
    check(not yaml_load(project / "meltano.yml")["plugins"].get("utilities"), "meltano add wrote a utility too")
    check("Plugin configuration is valid" in log, "meltano config test did not pass")
    version = subprocess.run([str(installed_tap(project)), "--version"], capture_output=True, text=True, check=True).stdout
    check(version.strip() == f"tap-intercom {CARGO_VERSION}", f"the added tap says {version!r}")
    print(f"{len(commands)} commands in {took:.0f}s (pip built the tap from git); meltano config test passed")


def yaml_load(path: Path) -> dict:
    """A YAML file, read with Meltano's own YAML library."""
    reader = [str(VENV_BIN / "python"), "-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
              str(path)]
    return json.loads(subprocess.run(reader, capture_output=True, text=True, check=True).stdout)


def start_fake(app_id: str) -> tuple[subprocess.Popen, str]:
    """A second fake Intercom: the first one's records (same size and seed), its own workspace id."""
    port_file = WORK / f"fake-{app_id}-url"
    process = subprocess.Popen([str(ROOT / "target" / "release" / "fake-intercom"), "--size", "small", "--app-id", app_id,
                                "--port-file", str(port_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        if port_file.exists() and port_file.read_text():
            return process, port_file.read_text().strip()
        time.sleep(0.1)
    process.kill()
    raise Failure(f"the fake for {app_id} did not start")


def check_workspaces() -> None:
    step("several workspaces: the README's inherited extractors, two fakes, one PostgreSQL schema")
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Several workspaces\n"):]
    example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    reader = [str(VENV_BIN / "python"), "-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"]
    example = json.loads(subprocess.run(reader, input=example, capture_output=True, text=True, check=True).stdout)
    names = [e["name"] for e in example["plugins"]["extractors"]]
    check(len(names) == 2 and all(e["inherit_from"] == "tap-intercom" for e in example["plugins"]["extractors"]),
          f"the README's extractors: {names}")
    # The example goes into the project's meltano.yml, as a user would paste it.
    writer = [str(VENV_BIN / "python"), "-c",
              "import json, sys, yaml; path, extra = sys.argv[1], json.loads(sys.argv[2]); d = yaml.safe_load(open(path)); "
              "d['plugins']['extractors'] += extra['plugins']['extractors']; d['jobs'] = d.get('jobs', []) + extra['jobs']; "
              "d['schedules'] = d.get('schedules', []) + extra['schedules']; yaml.safe_dump(d, open(path, 'w'), sort_keys=False)",
              str(PROJECT / "meltano.yml"), json.dumps(example)]
    subprocess.run(writer, check=True)
    with psycopg.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("create database workspaces")
    second, second_url = start_fake("fakeapp2")
    try:
        urls = {names[0]: FAKE_URL, names[1]: second_url}
        env = {k: v for k, v in meltano_env(TARGET_POSTGRES_DATABASE="workspaces").items()
               if k not in ("TAP_INTERCOM_BASE_URL", "TAP_INTERCOM_ACCESS_TOKEN", "TAP_INTERCOM__SELECT")}
        for name in names:
            prefix = name.upper().replace("-", "_")
            env[f"{prefix}_ACCESS_TOKEN"] = TOKEN
            env[f"{prefix}_BASE_URL"] = urls[name]
        jobs = [j["name"] for j in example["jobs"]]
        schedules = meltano("schedule", "list", "--format=json", env=env)
        check(all(s["name"] in schedules for s in example["schedules"]), f"meltano schedule list: {schedules}")
        # First load one after the other (each creates the tables it finds missing), then both at once.
        for job in jobs:
            meltano("run", job, env=env)
        summaries = {"fakeapp1": fake("/_fake/summary"), "fakeapp2": fake("/_fake/summary", url=second_url)}
        before = workspace_rows()
        added = {"fakeapp1": fake("/_fake/evolve?every=7", "POST")["contacts"]["added"],
                 "fakeapp2": fake("/_fake/evolve?every=7", "POST", url=second_url)["contacts"]["added"]}
        command = [str(VENV_BIN / "meltano")]
        running = [subprocess.Popen([*command, "run", job], cwd=PROJECT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for job in jobs]
        results = [(job, p.communicate(timeout=900), p.returncode) for job, p in zip(jobs, running)]
        for job, (_, err), code in results:
            (WORK / f"{job}.log").write_text(err)
            check(code == 0, f"meltano run {job} (side by side) exited {code}:\n{err[-3000:]}")
        after = workspace_rows()
    finally:
        second.kill()
        second.wait()
    for name in names:
        state = json.loads(meltano("state", "get", f"dev:{name}-to-target-postgres", env=env))["singer_state"]
        check("conversations" in state.get("bookmarks", {}), f"{name}: no stored state of its own: {state}")
    for table in ("admins", "conversations", "contacts", "conversation_parts", "tags"):
        rows = before[table]
        check(set(rows) == {"fakeapp1", "fakeapp2"}, f"{table}: workspaces {sorted(rows)}")
        for workspace, (count_rows, distinct_ids) in rows.items():
            check(count_rows == distinct_ids, f"{table} of {workspace}: {count_rows} rows, {distinct_ids} distinct ids")
            fake_count = summaries[workspace].get(table)
            if fake_count is not None:
                check(count_rows == fake_count, f"{table} of {workspace}: {count_rows} rows, its fake has {fake_count}")
    # The second round: each workspace's new records, each into its own rows.
    for workspace in ("fakeapp1", "fakeapp2"):
        grown = after["contacts"][workspace][0] - before["contacts"][workspace][0]
        check(grown == len(added[workspace]),
              f"contacts of {workspace}: {grown} new rows after the side-by-side run, its fake added {added[workspace]}")
    shown = ", ".join(f"{t} {r['fakeapp1'][0]}+{r['fakeapp2'][0]}" for t, r in after.items())
    print(f"jobs {', '.join(jobs)}: tap_intercom in database workspaces has {shown} rows (fakeapp1+fakeapp2); "
          f"each extractor kept its own state")


def workspace_rows() -> dict[str, dict[str, tuple[int, int]]]:
    """Per table of the workspaces database, per workspace_id: rows and distinct ids."""
    out = {}
    with psycopg.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"], user="postgres", dbname="workspaces") as conn:
        schemas = [r[0] for r in conn.execute("select distinct schemaname from pg_tables where schemaname not in "
                                              "('pg_catalog', 'information_schema')").fetchall()]
        check(schemas == ["tap_intercom"], f"the workspaces' tables are in the schemas {schemas}, not in tap_intercom alone")
        for table in ("admins", "conversations", "contacts", "conversation_parts", "tags"):
            rows = conn.execute(f'select workspace_id, count(*), count(distinct id) from tap_intercom."{table}" group by 1').fetchall()
            out[table] = {w: (n, d) for w, n, d in rows}
    return out


FAULT_SEED = "2020-01-01T00:00:00Z"
# The stream the fault breaks, and the child stream that shares its read.
FAILING = ("tickets", "ticket_parts")


def selected_streams(env: dict[str, str]) -> dict[str, str | None]:
    """The streams the project selects that API version 2.14 (the default) has, each with its
    replication key (None for a full-table stream), from the catalog Meltano gives the tap."""
    catalog = json.loads(meltano("invoke", "--dump=catalog", "tap-intercom", env=env))
    keys = {}
    for stream in catalog["streams"]:
        top = next(m["metadata"] for m in stream["metadata"] if m["breadcrumb"] == [])
        if top.get("selected") and stream["tap_stream_id"] not in LATER:
            incremental = top.get("replication-method") == "INCREMENTAL"
            keys[stream["tap_stream_id"]] = top["replication-key"] if incremental else None
    return keys


def json_log(text: str) -> list[dict]:
    """The events of a `meltano --log-format=json` log (one JSON object a line)."""
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def tap_lines(events: list[dict]) -> list[str]:
    """The tap's own log lines, as Meltano passes them on."""
    return [e["event"] for e in events if e.get("string_id") == "tap-intercom" and e.get("stdio") == "stderr"]


def records_read(lines: list[str]) -> Counter:
    """Records per stream, from the tap's Singer `record_count` metrics."""
    read: Counter = Counter()
    for line in lines:
        if "METRIC: " in line:
            metric = json.loads(line.split("METRIC: ", 1)[1])
            if metric.get("metric") == "record_count":
                read[metric["tags"]["stream"]] += metric["value"]
    return read


def loaded(loader: str, out: Path) -> Counter:
    """Records per stream the loader holds: target-jsonl's files in `out`, or target-postgres's
    rows in the `fault` schema."""
    if loader == "target-jsonl":
        return Counter({stream: len(records) for stream, records in jsonl_records(out).items()})
    return Counter({table: count("fault", table) for table in columns("fault")})


def meltano_job(state_id: str) -> tuple[str, dict, dict]:
    """What Meltano's system database holds for a state id: the outcome of its last run, and its
    partial and completed states."""
    with sqlite3.connect(PROJECT / ".meltano" / "meltano.db") as db:
        run = db.execute("select state from runs where job_name = ? order by id desc limit 1", (state_id,)).fetchone()
        state = db.execute("select partial_state, completed_state from state where state_id = ?", (state_id,)).fetchone()
    partial, completed = state or ("{}", "{}")
    return (run[0] if run else "none"), json.loads(partial or "{}"), json.loads(completed or "{}")


def check_failed_stream() -> None:
    step("one stream fails: what meltano run keeps in state and loads (target-jsonl, target-postgres); the next run")
    env = meltano_env(TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA="fault")
    del env["TAP_INTERCOM__SELECT"]  # meltano.yml's select
    selected = selected_streams(env)
    keys = {stream: key for stream, key in selected.items() if key}
    check(set(FAILING) <= set(keys), f"meltano.yml selects {sorted(keys)} incrementally, not {FAILING}")
    seed = {stream: {key: FAULT_SEED} for stream, key in keys.items()}
    healthy = sorted(set(keys) - set(FAILING))
    summary = fake("/_fake/summary")
    print(f"seeded {len(seed)} incremental streams at {FAULT_SEED}: {', '.join(sorted(seed))}")
    for loader in ("target-jsonl", "target-postgres"):
        state_id = f"dev:tap-intercom-to-{loader}:fault"
        run = ["--log-format=json", "run", "--state-id-suffix", "fault", "tap-intercom", loader]
        meltano("state", "set", "--force", state_id, json.dumps({"singer_state": {"bookmarks": seed}}), env=env)

        # The fault: every search of tickets answers 400, for the whole run.
        out = WORK / f"fault-{loader}-1"
        fake("/_fake/fault?path=/tickets/search&kind=status&status=400&times=1000", "POST")
        try:
            result = meltano_status(*run, env=dict(env, TARGET_JSONL_DESTINATION_PATH=str(out)))
        finally:
            fake("/_fake/fault", "DELETE")
        events = json_log(result.stderr)
        lines = tap_lines(events)
        critical = [l for l in lines if " CRITICAL " in l]
        check(result.returncode == 1, f"{loader}: meltano run exited {result.returncode} with tickets failing")
        cause = [l for l in critical if "tickets: POST /tickets/search" in l and "HTTP 400" in l]
        check(bool(cause), f"{loader}: no CRITICAL line names tickets, POST /tickets/search and HTTP 400: {critical}")
        named = {m.group(1) for l in critical if (m := re.search(r"CRITICAL\s+(\w+): ", l))}
        check(named == {"tickets"}, f"{loader}: CRITICAL lines name {sorted(named)}, not tickets alone")
        check(any(re.search(r"WARNING\s+ticket_parts: stopped with tickets", l) for l in lines),
              f"{loader}: ticket_parts did not stop with tickets")
        blocks = [e for e in events if e.get("event") == "Block run completed"]
        check(len(blocks) == 1, f"{loader}: {len(blocks)} 'Block run completed' events")
        block = blocks[0]
        check(block.get("success") is False, f"{loader}: block success {block.get('success')}")
        check(block.get("err") == "Extractor failed" and block.get("exit_codes") == {"extractors": 1},
              f"{loader}: block err {block.get('err')!r}, exit codes {block.get('exit_codes')} (the loader must not fail)")
        saves = sum(1 for e in events if str(e.get("event", "")).startswith("Incremental state has been updated"))
        job, partial, completed = meltano_job(state_id)

        # What Meltano keeps: the loader's last state, as the state the next run starts from.
        stored = json.loads(meltano("state", "get", state_id, env=env))["singer_state"]
        check(job == "FAIL", f"{loader}: Meltano recorded the run as {job}")
        check(not partial and completed.get("singer_state") == stored,
              f"{loader}: the state is not kept as a completed state (partial {partial})")
        bookmarks = stored.get("bookmarks", {})
        for stream in FAILING:
            check(bookmarks.get(stream) == seed[stream],
                  f"{loader}: {stream} bookmark {bookmarks.get(stream)}, seeded {seed[stream]}")
        stale = [s for s in healthy if not (s in bookmarks and instant(bookmarks[s][keys[s]]) > instant(FAULT_SEED))]
        check(not stale, f"{loader}: bookmarks that did not move past the seed: {[(s, bookmarks.get(s)) for s in stale]}")
        check("currently_syncing" in stored and stored["currently_syncing"] is None,
              f"{loader}: currently_syncing {stored.get('currently_syncing', 'absent')}")

        # What the loader got: every other stream's records, none of the failed ones.
        read = records_read(lines)
        got = loaded(loader, out)
        for stream in FAILING:
            check(read[stream] == 0 and got[stream] == 0, f"{loader}: {stream} read {read[stream]}, loaded {got[stream]}")
        empty = [s for s in selected if s not in FAILING and (got[s] == 0 or got[s] != read[s])]
        check(not empty, f"{loader}: streams not loaded as read: {[(s, read[s], got[s]) for s in empty]}")
        short = [s for s in summary if s in read and s not in FAILING and read[s] != summary[s]]
        check(not short, f"{loader}: streams read short of the fake: {[(s, read[s], summary[s]) for s in short]}")
        print(f"{loader}: meltano run exited {result.returncode}; block: success {block['success']}, "
              f"err {block['err']!r}, exit codes {block['exit_codes']}; job recorded {job}; "
              f"state saved {saves}x, as a completed state")
        print(f"  tap: {cause[0].split(' CRITICAL ', 1)[1]}")
        where = "" if loader == "target-jsonl" else f" (tables {', '.join(t for t in FAILING if t in columns('fault')) or 'none'} created)"
        print(f"  loaded {sum(got.values())} records of {len([s for s in got if got[s]])} streams; "
              f"tickets {got['tickets']}, ticket_parts {got['ticket_parts']}{where}")
        print(f"  state: tickets, ticket_parts kept {FAULT_SEED}; moved past it: "
              + ", ".join(f"{s} {bookmarks[s][keys[s]]}" for s in healthy)
              + "; currently_syncing null")

        # The fault gone, the next run continues from that state: tickets from the seed, the
        # others from where the failed run left them.
        again = WORK / f"fault-{loader}-2"
        result = meltano_status(*run, env=dict(env, TARGET_JSONL_DESTINATION_PATH=str(again)))
        check(result.returncode == 0, f"{loader}: the run after the fault exited {result.returncode}:\n"
              + "\n".join(tap_lines(json_log(result.stderr))[-30:]))
        reread = records_read(tap_lines(json_log(result.stderr)))
        got = loaded(loader, again)
        for stream in FAILING:
            check(reread[stream] == summary[stream] == got[stream],
                  f"{loader}: {stream} read {reread[stream]} and loaded {got[stream]} after the fault, the fake has {summary[stream]}")
        more = [s for s in healthy if reread[s] > read[s]]
        check(not more, f"{loader}: streams read more than from the seed: {[(s, reread[s], read[s]) for s in more]}")
        check(sum(reread[s] for s in healthy) < sum(read[s] for s in healthy),
              f"{loader}: the other streams did not continue from their bookmarks")
        after = json.loads(meltano("state", "get", state_id, env=env))["singer_state"]["bookmarks"]
        for stream in FAILING:
            check(instant(after[stream][keys[stream]]) > instant(FAULT_SEED), f"{loader}: {stream} bookmark stayed {after[stream]}")
        print(f"  after DELETE /_fake/fault: exit {result.returncode}; tickets {reread['tickets']} read, "
              f"ticket_parts {reread['ticket_parts']} (the fake has {summary['tickets']} and {summary['ticket_parts']}); "
              f"bookmarks tickets {after['tickets'][keys['tickets']]}, ticket_parts {after['ticket_parts'][keys['ticket_parts']]}; "
              f"the other incremental streams read {sum(reread[s] for s in healthy)} records "
              f"(from the seed: {sum(read[s] for s in healthy)})")


def yaml_config(path: Path) -> dict:
    """target-postgres's config in a meltano.yml, read with Meltano's own YAML library."""
    reader = [str(VENV_BIN / "python"), "-c",
              "import json, sys, yaml; d = yaml.safe_load(open(sys.argv[1])); "
              "print(json.dumps([l for l in d['plugins']['loaders'] if l['name'] == 'target-postgres'][0].get('config', {})))",
              str(path)]
    return json.loads(subprocess.run(reader, capture_output=True, text=True, check=True).stdout)


def main() -> int:
    started = time.monotonic()
    try:
        set_up_project()
        summary = fake("/_fake/summary")
        catalog = check_invoke()
        first = check_first_load(catalog, summary)
        # target-postgres stamps rows with naive UTC times.
        since = query("select now() at time zone 'UTC'")[0][0]
        set_up_snowflake()
        snowflake = check_snowflake_first_load(catalog)
        check_conformance()
        report = check_second_run(catalog, first, since)
        check_snowflake_incremental(catalog, report, snowflake)
        summary = fake("/_fake/summary")
        check_select_and_metadata(summary, report)
        check_singer_io_dropin(summary, catalog)
        check_readme_commands()
        check_readme_use()
        check_failed_stream()
        check_install()
        check_meltano_add()
        check_workspaces()
    except Failure as failure:
        print(f"\nE2E FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"\ne2e: all checks passed in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
