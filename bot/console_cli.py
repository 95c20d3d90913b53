"""The console's commands: ``qunzhi web``, ``qunzhi user add|list|passwd|remove`` and
``qunzhi token create|list|revoke``. (Light imports at the top, as in :mod:`bot.cli`.)

Passwords are never command-line arguments (they would stay in the shell history and show in
``ps``): they are asked for, twice, on a terminal, or read as one line from standard input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.config import Config
    from bot.wiring import Store


class ConsoleCliError(Exception):
    """A user-facing failure of a console command (printed as one line, exit status 2)."""


def _read_password(prompt_twice: bool = True) -> str:
    import getpass

    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:
            raise ConsoleCliError("no password on standard input")
        return line.rstrip("\r\n")
    first = getpass.getpass("password: ")
    if prompt_twice and getpass.getpass("again: ") != first:
        raise ConsoleCliError("the two passwords differ")
    return first


def _hash(password: str) -> str:
    from bot.web.security import WeakPassword, hash_password

    try:
        return hash_password(password)
    except WeakPassword as e:
        raise ConsoleCliError(str(e)) from None


def create_user(store: Store, name: str, password: str, role: str, groups: list[str]) -> None:
    """Add a console user (the demo uses this for its login)."""
    from bot.store import accounts as accounts_db

    with store.sessions.begin() as session:
        accounts_db.add_user(session, name, _hash(password), role, groups)


def cmd_user(
    args: argparse.Namespace, load: Callable[[argparse.Namespace], Config], open_store: Callable[..., Store]
) -> int:
    from bot.store import accounts as accounts_db

    config = load(args)
    store = open_store(args, config)
    try:
        if args.user_command == "add":
            if args.role == "admin" and not args.groups:
                raise ConsoleCliError("an admin needs --groups (the room ids they manage); a superadmin sees all")
            create_user(store, args.name, _read_password(), args.role, args.groups or [])
            scope = "every group" if args.role == "superadmin" else ", ".join(args.groups)
            print(f"console user {args.name} added ({args.role}: {scope})")
        elif args.user_command == "passwd":
            password_hash = _hash(_read_password())
            with store.sessions.begin() as session:
                accounts_db.set_password(session, args.name, password_hash)
            print(f"password of {args.name} changed; their sessions are ended")
        elif args.user_command == "remove":
            with store.sessions.begin() as session:
                accounts_db.remove_user(session, args.name)
            print(f"console user {args.name} removed; their sessions are ended and their tokens revoked")
        else:
            with store.sessions.begin() as session:
                found = accounts_db.users(session)
            if not found:
                print("no console users: add one with qunzhi user add NAME --role superadmin")
            for u in found:
                scope = "every group" if u.is_superadmin else ", ".join(u.groups)
                print(f"{u.name}\t{u.role}\t{scope}")
    finally:
        store.close()
    return 0


def cmd_token(
    args: argparse.Namespace, load: Callable[[argparse.Namespace], Config], open_store: Callable[..., Store]
) -> int:
    from bot.store import accounts as accounts_db
    from bot.web.security import new_secret

    config = load(args)
    store = open_store(args, config)
    try:
        if args.token_command == "create":
            token = new_secret()
            with store.sessions.begin() as session:
                pk = accounts_db.create_token(session, args.user, args.name, token)
            print(f"API token #{pk} for {args.user} ({args.name}); shown this once, keep it secret:")
            print(token)
        elif args.token_command == "revoke":
            with store.sessions.begin() as session:
                done = accounts_db.revoke_token(session, args.number)
            print(f"API token #{args.number} {'revoked' if done else 'was revoked already'}")
        else:
            with store.sessions.begin() as session:
                found = accounts_db.tokens(session, include_revoked=args.all)
            if not found:
                print("no API tokens: create one with qunzhi token create --user NAME --name WHAT-FOR")
            for t in found:
                used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never used"
                state = "revoked" if t.revoked else "active"
                print(f"#{t.pk}\t{t.user}\t{t.name}\t{state}\t{used}")
    finally:
        store.close()
    return 0


def _warm_up_checker(config: Config) -> None:
    """Load the checker's models before serving, so the first /check does not wait seconds for them.
    A model that cannot load leaves the console up: the checker answers 503 and says why."""
    from bot.check import shared_checker
    from nlp.errors import ModelError

    if config.models.use:
        print("qunzhi web: loading the models for the checker…", flush=True)
    try:
        shared_checker(config).warm_up()
    except ModelError as e:
        print(f"qunzhi web: the checker has no model: {e}", file=sys.stderr)


def cmd_web(
    args: argparse.Namespace, load: Callable[[argparse.Namespace], Config], open_store: Callable[..., Store]
) -> int:
    from bot.store import accounts as accounts_db
    from bot.web.app import serve

    config = load(args)
    store = open_store(args, config)
    try:
        with store.sessions.begin() as session:
            if not accounts_db.users(session):
                print(
                    "qunzhi web: no console users yet: add one with `qunzhi user add NAME --role superadmin`",
                    file=sys.stderr,
                )
        host = args.host or config.web.host
        port = args.port or config.web.port
        _warm_up_checker(config)
        print(f"qunzhi console on http://{host}:{port}/ (Ctrl-C stops it)", flush=True)
        serve(config, store, host=host, port=port)
    finally:
        store.close()
    return 0


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_db_option: Callable[[argparse.ArgumentParser], None],
) -> list[argparse.ArgumentParser]:
    """Add ``web``, ``user`` and ``token`` to the CLI; return the parsers that take ``--config``."""
    w = sub.add_parser(
        "web",
        help="the operator's console: groups, review queue, moderation log, members, search, API",
        description="Serve the console on the configured database (beside `qunzhi run` or alone). "
        "It listens on 127.0.0.1 unless told otherwise; for other machines put a TLS reverse proxy "
        "in front (docs/guide/console.md).",
    )
    w.add_argument("--host", help="address to listen on (default: web.host, 127.0.0.1)")
    w.add_argument("--port", type=int, help="port (default: web.port, 8080)")
    add_db_option(w)

    u = sub.add_parser("user", help="console users: add, list, passwd, remove")
    usub = u.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    ua = usub.add_parser(
        "add",
        help="add a console user (the password is asked for, or read from standard input)",
        description="Add a person who may log in to the console. A superadmin sees every group; an "
        "admin only the --groups given. The password is asked for twice on a terminal, or read as one "
        "line from standard input; it is stored as an argon2 hash and never printed or logged.",
    )
    ua.add_argument("name", metavar="NAME")
    ua.add_argument("--role", choices=("superadmin", "admin"), required=True)
    ua.add_argument("--groups", nargs="+", metavar="ROOM_ID", help="an admin's groups (room ids)")
    up = usub.add_parser("passwd", help="set a user's password (ends their sessions)")
    up.add_argument("name", metavar="NAME")
    ur = usub.add_parser("remove", help="remove a user (ends their sessions, revokes their tokens)")
    ur.add_argument("name", metavar="NAME")
    ul = usub.add_parser("list", help="list the console users")

    t = sub.add_parser("token", help="API tokens for /api/v1: create, list, revoke")
    tsub = t.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    tc = tsub.add_parser(
        "create",
        help="create a bearer token acting as a user (printed once)",
        description="Create a token for `Authorization: Bearer TOKEN` on /api/v1. It acts as the user, "
        "with their groups. It is printed once and stored only as a hash.",
    )
    tc.add_argument("--user", required=True, help="the console user it acts as")
    tc.add_argument("--name", required=True, help="what it is for (shown by token list)")
    tl = tsub.add_parser("list", help="list the tokens (active ones unless --all)")
    tl.add_argument("--all", action="store_true", help="revoked ones too")
    tr = tsub.add_parser("revoke", help="revoke a token by its number (#N in token list)")
    tr.add_argument("number", type=int, metavar="N")
    leaves = [w, ua, up, ur, ul, tc, tl, tr]
    for parser in leaves[1:]:
        add_db_option(parser)
    return leaves
