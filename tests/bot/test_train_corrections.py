"""Admin corrections reach training through ``qunzhi train``: the store reads them, nlp takes them as data."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.cli import main
from bot.store import corrections as corrections_db, groups as groups_db, messages as messages_db

from .store.conftest import GROUP, T0, make_msg

ROOT = Path(__file__).resolve().parents[2]


def _record(session) -> None:  # noqa: ANN001
    groups_db.ensure_group(session, GROUP)
    groups_db.set_group(session, GROUP, topic="AI 开发")
    pk, _ = messages_db.store_message(session, make_msg(1, text="加V领红包"))
    corrections_db.record_correction(
        session, text="加V领红包", analyzer="ad", label="ad", by_contact="wxid_admin", message_pk=pk, at=T0
    )
    corrections_db.record_correction(
        session, text="今晚分享", analyzer="useful", label="useful", by_contact="wxid_admin"
    )
    session.commit()


def test_the_store_gives_each_correction_with_its_groups_topic(session) -> None:  # noqa: ANN001
    _record(session)
    assert corrections_db.corrections_for_training(session) == [
        ("加V领红包", "ad", "ad", "AI 开发"),
        ("今晚分享", "useful", "useful", ""),  # no message: no group, no topic
    ]


def test_the_latest_decision_on_a_message_wins(session) -> None:  # noqa: ANN001
    groups_db.ensure_group(session, GROUP)
    pk, _ = messages_db.store_message(session, make_msg(1, text="明晚八点直播，扫码进群"))
    other, _ = messages_db.store_message(session, make_msg(2, text="加V领红包"))
    for minutes, (label, message_pk) in enumerate([("ad", pk), ("ad", other), ("normal", pk)]):
        corrections_db.record_correction(
            session,
            text="明晚八点直播，扫码进群" if message_pk == pk else "加V领红包",
            analyzer="ad",
            label=label,
            by_contact="wxid_admin",
            message_pk=message_pk,
            at=T0 + timedelta(minutes=minutes),
        )
    corrections_db.record_correction(  # another analyzer's decision on the same message stands
        session,
        text="明晚八点直播，扫码进群",
        analyzer="useful",
        label="useful",
        by_contact="wxid_admin",
        message_pk=pk,
        at=T0 + timedelta(minutes=5),
    )
    session.commit()
    assert corrections_db.corrections_for_training(session) == [
        ("加V领红包", "ad", "ad", ""),
        ("明晚八点直播，扫码进群", "ad", "normal", ""),  # /spam, then /notspam: only the latter
        ("明晚八点直播，扫码进群", "useful", "useful", ""),
    ]


def test_training_takes_the_rows_per_task() -> None:
    from nlp.training.train import corrections_by_task

    rows = [("a", "ad", "ad", "t"), ("b", "useful", "useless", ""), ("c", "ad", "useful", ""), ("d", "nsfw", "x", "")]
    got = corrections_by_task(rows)
    assert got == {"ad": [("a", "ad", "t")], "useful": [("b", "useless", "")], "intent": []}


def test_qunzhi_train_passes_the_databases_corrections_to_training(monkeypatch, tmp_path, engine, sessions) -> None:  # noqa: ANN001
    from nlp.training import train

    with sessions() as s:
        _record(s)
    seen: dict[str, list] = {}

    def prepare(encoder, pack, *, data_dir=None, corrections=()):  # noqa: ANN001, ANN202
        seen["rows"] = list(corrections)
        return pack

    monkeypatch.setattr(train, "prepare", prepare)
    monkeypatch.setattr(train, "fit", lambda *a, **k: tmp_path / "model")
    url = engine.url.render_as_string(hide_password=False)
    code = main(["train", "--init-model", str(ROOT / "models" / "qunzhi"), "--out", str(tmp_path), "--db", url])
    assert code == 0
    assert seen["rows"] == [("加V领红包", "ad", "ad", "AI 开发"), ("今晚分享", "useful", "useful", "")]


def test_qunzhi_train_refuses_a_database_it_cannot_read(tmp_path, capsys) -> None:  # noqa: ANN001
    missing = tmp_path / "none.db"
    args = ["train", "--init-model", str(ROOT / "models" / "qunzhi"), "--out", str(tmp_path / "out")]
    assert main([*args, "--db", f"sqlite:///{missing}"]) == 2
    err = capsys.readouterr().err
    assert "cannot read the admin corrections" in err and str(missing) in err and "--no-corrections" in err
    assert not missing.exists()


def test_qunzhi_train_without_corrections_reads_no_database(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    from nlp.training import train

    seen: dict[str, list] = {}
    monkeypatch.setattr(train, "prepare", lambda encoder, pack, **k: seen.setdefault("rows", list(k["corrections"])))
    monkeypatch.setattr(train, "fit", lambda *a, **k: tmp_path / "model")
    missing = tmp_path / "none.db"
    args = ["train", "--init-model", str(ROOT / "models" / "qunzhi"), "--out", str(tmp_path / "out")]
    assert main([*args, "--db", f"sqlite:///{missing}", "--no-corrections"]) == 0
    assert seen["rows"] == [] and not missing.exists()
