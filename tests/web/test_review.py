"""The review queue: what it proposes and in what order, and one click recording a correction that
``qunzhi train`` reads; scoping, CSRF and bad input refused with nothing recorded.

The fixture is judged by the rule analyzers (no ``ad_rules`` verdicts, no model-only ads), so each
test stores the model's verdicts for a few messages as the transformer would have (``save_analysis``)
and, for the model-only ad, the 'log' action moderation records when the rules do not corroborate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot import catalogue
from bot.store import (
    accounts as accounts_db,
    actions as actions_db,
    analysis,
    corrections as corrections_db,
    review as review_db,
)
from bot.store.common import ACTIONS_T, CHAT, MESSAGES
from bot.web.review import thresholds
from nlp.verdict import Verdict
from tests.web.conftest import DEMO_GROUP, OTHER_GROUP, Console, login

MODEL = "qunzhi-1-int8"


def model_verdicts(ad: tuple[str, float], rules: tuple[str, float], useful: tuple[str, float]) -> list[Verdict]:
    """What the transformer stores for a message: its ad, useful and intent verdicts, and the rule
    baseline's ad verdict beside them as ``ad_rules``."""
    return [
        Verdict("ad", ad[0], ad[1], (f"model p(ad)={ad[1]:.2f}",), MODEL),
        Verdict("ad_rules", rules[0], rules[1], (f"rules p(ad)={rules[1]:.2f}",), "rules-2"),
        Verdict("useful", useful[0], useful[1], ("model p(useful)",), MODEL),
        Verdict("intent", "chitchat", 0.9, ("model p(chitchat)=0.90",), MODEL),
    ]


@dataclass
class Case:
    """The messages each kind of candidate was made of (pks)."""

    disagree: int  # model ad 0.83, rules normal: the judges disagree, p(ad) 0.03 from the line
    logged: int  # model ad 0.97, rules normal, logged only (not corroborated): 0.17 from the line
    near_ad: int  # both say ad, p(ad) 0.81 against the group's 0.80
    near_useful: int  # p(useful) 0.305 against the model's 0.30
    other_far: int  # the other group: p(ad) 0.75 is near 0.80 but not near its own line (0.90)
    plain: int  # sure of everything: never in the queue


def quiet_messages(console: Console, group_id: str, n: int) -> list[tuple[int, str]]:
    """``n`` of a group's analysed chat messages with text and no moderation action."""
    with console.store.sessions() as session:
        acted = select(ACTIONS_T.c.message_pk).where(ACTIONS_T.c.message_pk.is_not(None))
        rows = session.execute(
            select(MESSAGES.c.pk, MESSAGES.c.text)
            .where(
                MESSAGES.c.group_id == group_id,
                MESSAGES.c.role == CHAT,
                MESSAGES.c.analysis_status == "done",
                MESSAGES.c.text != "",
                MESSAGES.c.pk.not_in(acted),
            )
            .order_by(MESSAGES.c.pk)
            .limit(n)
        ).all()
    assert len(rows) == n
    return [(r.pk, r.text) for r in rows]


def make_case(console: Console) -> Case:
    demo = [pk for pk, _ in quiet_messages(console, DEMO_GROUP, 5)]
    (other, _), *_ = quiet_messages(console, OTHER_GROUP, 1)
    case = Case(demo[0], demo[1], demo[2], demo[3], other_far=other, plain=demo[4])
    sure = model_verdicts(("normal", 0.99), ("normal", 0.99), ("useless", 0.99))
    with console.store.sessions.begin() as session:
        analysis.save_analysis(session, case.disagree, model_verdicts(("ad", 0.83), ("normal", 0.9), ("useless", 0.99)))
        analysis.save_analysis(session, case.logged, model_verdicts(("ad", 0.97), ("normal", 0.95), ("useless", 0.99)))
        analysis.save_analysis(session, case.near_ad, model_verdicts(("ad", 0.81), ("ad", 0.9), ("useless", 0.99)))
        analysis.save_analysis(
            session, case.near_useful, model_verdicts(("normal", 0.99), ("normal", 0.99), ("useful", 0.305))
        )
        analysis.save_analysis(session, case.other_far, model_verdicts(("ad", 0.75), ("ad", 0.9), ("useless", 0.99)))
        analysis.save_analysis(session, case.plain, sure)
        verdict = Verdict("ad", "ad", 0.97, ("model p(ad)=0.97",), MODEL)
        actions_db.record_action(
            session,
            DEMO_GROUP,
            "wxid_somebody",
            "log",
            message_pk=case.logged,
            reasons=(catalogue.reason_not_corroborated(), catalogue.reason_ad_score(0.97, 0.8), "rules p(ad)=0.05"),
            verdict=verdict,
            dry_run=True,
        )
    return case


def queue(console: Console, groups: list[str], limit: int = 500) -> list[review_db.ReviewItem]:
    with console.store.sessions() as session:
        return review_db.review_queue(session, groups, thresholds(console.config, groups), limit=limit).items


def corrections_count(console: Console) -> int:
    with console.store.sessions() as session:
        return len(corrections_db.corrections(session))


# --- what the queue proposes ---------------------------------------------------------------------


def test_the_queue_holds_each_kind_most_uncertain_first(console: Console) -> None:
    case = make_case(console)
    items = queue(console, [DEMO_GROUP, OTHER_GROUP])
    order = [i.pk for i in items]
    by_pk = {i.pk: i for i in items}
    # the judges' disagreements first, the closer to the line the earlier; the logged one is both
    assert order[:2] == [case.disagree, case.logged]
    assert [r.kind for r in by_pk[case.disagree].reasons] == ["disagree", "near_ad"]  # 0.83 is near 0.80 too
    assert [r.kind for r in by_pk[case.logged].reasons] == ["disagree", "logged"]
    assert by_pk[case.disagree].reasons[0].distance == pytest.approx(0.03)
    # then the near ones, by distance: p(useful) 0.305 vs 0.30 before p(ad) 0.81 vs 0.80
    assert [r.kind for r in by_pk[case.near_ad].reasons] == ["near_ad"]
    assert [r.kind for r in by_pk[case.near_useful].reasons] == ["near_useful"]
    assert by_pk[case.near_useful].reasons[0].threshold == pytest.approx(0.3)
    assert order.index(case.near_useful) < order.index(case.near_ad)
    # each group is measured against its own ad threshold (0.9 there), and the sure one is left out
    assert case.other_far not in by_pk and case.plain not in by_pk
    keys = [(i.tier, round(i.distance, 6)) for i in items]
    assert keys == sorted(keys)
    assert all(i.message.group_id in (DEMO_GROUP, OTHER_GROUP) for i in items)


def test_the_queue_pages_and_leaves_out_purged_and_corrected_messages(console: Console) -> None:
    case = make_case(console)
    everything = [i.pk for i in queue(console, [DEMO_GROUP])]
    with console.store.sessions() as session:
        first = review_db.review_queue(session, [DEMO_GROUP], thresholds(console.config, [DEMO_GROUP]), limit=2)
        second = review_db.review_queue(
            session, [DEMO_GROUP], thresholds(console.config, [DEMO_GROUP]), limit=2, page=2
        )
    assert [i.pk for i in first.items + second.items] == everything[:4] and first.has_next
    with console.store.sessions.begin() as session:
        corrections_db.record_correction(
            session, text="x", analyzer="ad", label="ad", by_contact="t", message_pk=case.disagree
        )
        # a correction of the other analyzer does not settle a near-ad message
        corrections_db.record_correction(
            session, text="x", analyzer="useful", label="useful", by_contact="t", message_pk=case.near_ad
        )
        session.execute(
            MESSAGES.update().where(MESSAGES.c.pk == case.logged).values(text="", purged_at=datetime.now(timezone.utc))
        )
    left = [i.pk for i in queue(console, [DEMO_GROUP])]
    assert case.disagree not in left and case.logged not in left
    assert case.near_ad in left and case.near_useful in left


# --- the page and a click --------------------------------------------------------------------------


def test_the_page_shows_why_each_message_is_there_with_keys(console: Console) -> None:
    case = make_case(console)
    login(console.client, "ann")
    page = console.client.get("/review")
    assert page.status_code == 200
    html = page.text
    assert html.index(f'id="review-{case.disagree}"') < html.index(f'id="review-{case.logged}"')
    assert "模型判为广告，规则基线判为正常" in html
    assert "只有模型判为广告，规则基线不认同" in html
    assert "广告概率 0.81 接近本群处理线 0.80" in html
    assert "有用概率 0.30 接近判定线 0.30" in html  # 0.305 shown to two places
    assert "广告（规则基线）" in html and "规则基线不认同广告判断" not in html
    assert "<kbd>a</kbd>" in html and "/static/review.js" in html
    assert f'action="/review/{case.disagree}"' in html
    assert console.client.get("/static/review.js").status_code == 200


def test_a_click_records_a_training_correction_and_the_latest_wins(console: Console) -> None:
    case = make_case(console)
    csrf = login(console.client, "ann")
    with console.store.sessions() as session:
        msg_text = session.execute(select(MESSAGES.c.text).where(MESSAGES.c.pk == case.disagree)).scalar_one()
        before = corrections_db.corrections_for_training(session)
    # without JS: a form post, redirected back to the queue
    r = console.client.post(
        f"/review/{case.disagree}", data={"csrf": csrf, "label": "ad", "group": DEMO_GROUP}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/review?group={DEMO_GROUP.replace('@', '%40')}"
    # with JS: the same message relabelled, answered in JSON
    r = console.client.post(
        f"/review/{case.disagree}",
        data={"label": "normal"},
        headers={"X-CSRF-Token": csrf, "Accept": "application/json"},
    )
    assert r.status_code == 200
    answer = r.json()
    assert answer["analyzer"] == "ad" and answer["label"] == "normal" and answer["in_queue"] is False
    with console.store.sessions() as session:
        training = corrections_db.corrections_for_training(session)
        recorded = corrections_db.corrections(session)
        log = accounts_db.audit_log(session)
    ours = [t for t in training if t[0] == msg_text and t[1] == "ad"]
    assert ours == [(msg_text, "ad", "normal", "人工智能 大模型")]  # one label: the latest decision
    assert len(training) == len(before) + 1
    assert [c.by_contact for c in recorded[-2:]] == ["console:ann", "console:ann"]
    assert [(a.action, a.actor, a.group_id, a.target) for a in log[:2]] == [
        ("review_label", "ann", DEMO_GROUP, str(case.disagree))
    ] * 2
    assert log[0].detail["label"] == "normal" and log[0].detail["correction"] == recorded[-1].pk
    # it has left the queue, on the page too
    assert case.disagree not in [i.pk for i in queue(console, [DEMO_GROUP])]
    assert f'id="review-{case.disagree}"' not in console.client.get("/review").text


def test_a_message_stays_while_another_analyzer_still_needs_a_person(console: Console) -> None:
    case = make_case(console)
    csrf = login(console.client, "ann")
    with console.store.sessions.begin() as session:
        analysis.save_analysis(session, case.near_ad, model_verdicts(("ad", 0.81), ("ad", 0.9), ("useful", 0.31)))
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    r = console.client.post(f"/review/{case.near_ad}", data={"label": "useless"}, headers=headers)
    assert r.json()["analyzer"] == "useful" and r.json()["in_queue"] is True
    r = console.client.post(f"/review/{case.near_ad}", data={"label": "ad"}, headers=headers)
    assert r.json()["in_queue"] is False
    # both labels are in what `qunzhi train` builds its corpora from, each under its task
    from nlp.training.train import corrections_by_task

    with console.store.sessions() as session:
        msg_text = session.execute(select(MESSAGES.c.text).where(MESSAGES.c.pk == case.near_ad)).scalar_one()
        by_task = corrections_by_task(corrections_db.corrections_for_training(session))
    assert (msg_text, "useless", "人工智能 大模型") in by_task["useful"]
    assert (msg_text, "ad", "人工智能 大模型") in by_task["ad"]


# --- refused, and nothing recorded -----------------------------------------------------------------


def test_another_admins_group_is_refused(console: Console) -> None:
    case = make_case(console)
    csrf = login(console.client, "bob")
    before = corrections_count(console)
    r = console.client.post(f"/review/{case.disagree}", data={"csrf": csrf, "label": "ad"}, follow_redirects=False)
    assert r.status_code == 403
    assert console.client.get(f"/review?group={DEMO_GROUP}").status_code == 403
    page = console.client.get("/review").text
    assert f'id="review-{case.disagree}"' not in page and f'id="review-{case.near_ad}"' not in page
    assert corrections_count(console) == before
    with console.store.sessions() as session:
        assert not [a for a in accounts_db.audit_log(session) if a.action == "review_label"]


def test_a_post_without_the_csrf_token_records_nothing(console: Console) -> None:
    case = make_case(console)
    login(console.client, "ann")
    before = corrections_count(console)
    r = console.client.post(f"/review/{case.disagree}", data={"label": "ad"}, follow_redirects=False)
    assert r.status_code == 403
    r = console.client.post(f"/review/{case.disagree}", data={"label": "ad", "csrf": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    assert corrections_count(console) == before


def test_a_bad_label_or_a_missing_or_purged_message_is_refused(console: Console) -> None:
    case = make_case(console)
    csrf = login(console.client, "ann")
    before = corrections_count(console)
    headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
    assert console.client.post(f"/review/{case.disagree}", data={"label": "spam"}, headers=headers).status_code == 400
    assert console.client.post(f"/review/{case.disagree}", data={}, headers=headers).status_code == 400
    assert console.client.post("/review/999999", data={"label": "ad"}, headers=headers).status_code == 404
    with console.store.sessions.begin() as session:  # the retention purge blanked it: nothing to train on
        session.execute(
            MESSAGES.update().where(MESSAGES.c.pk == case.logged).values(text="", purged_at=datetime.now(timezone.utc))
        )
    assert console.client.post(f"/review/{case.logged}", data={"label": "ad"}, headers=headers).status_code == 409
    assert corrections_count(console) == before


def test_logged_out_the_page_goes_to_the_login_form(sqlite_console: Console) -> None:
    r = sqlite_console.client.get("/review", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert sqlite_console.client.post("/review/1", data={"label": "ad"}).status_code == 401


# --- corrections waiting for the next training run -------------------------------------------------


def with_model_dir(console: Console, model_dir: Path) -> None:
    config = console.config.model_copy(
        update={"models": console.config.models.model_copy(update={"path": str(model_dir)})}
    )
    console.client.app.state.config = config  # type: ignore[attr-defined]


def test_the_corrections_waiting_are_those_since_the_model_was_trained(sqlite_console: Console, tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "qunzhi-9", "date": "2026-12-01"}), "utf-8")
    with_model_dir(sqlite_console, tmp_path)
    shanghai = sqlite_console.config.digest_timezone()
    with sqlite_console.store.sessions.begin() as session:
        pks = session.execute(select(MESSAGES.c.pk).order_by(MESSAGES.c.pk).limit(3)).scalars().all()

        def fix(pk: int | None, label: str, at: datetime, text: str = "x") -> None:
            corrections_db.record_correction(
                session, text=text, analyzer="ad", label=label, by_contact="t", message_pk=pk, at=at
            )

        fix(pks[0], "ad", datetime(2026, 11, 30, 12, tzinfo=timezone.utc))  # before: trained on
        fix(pks[1], "ad", datetime(2026, 11, 30, 12, tzinfo=timezone.utc))  # before, then decided again after
        fix(pks[1], "normal", datetime(2026, 12, 1, 0, 30, tzinfo=shanghai))  # the training day counts
        fix(pks[2], "ad", datetime(2026, 12, 2, tzinfo=timezone.utc))
        fix(None, "ad", datetime(2026, 12, 3, tzinfo=timezone.utc), text="gone")  # its message deleted
    login(sqlite_console.client, "root")
    html = sqlite_console.client.get("/review").text
    assert "等待下一次训练的更正：3 条" in html and "当前模型训练于 2026-12-01" in html
    assert "qunzhi train" in html
    with sqlite_console.store.sessions() as session:
        everything = review_db.corrections_waiting(session, None)
        assert everything == len(corrections_db.corrections_for_training(session)) == 4
    (tmp_path / "manifest.json").unlink()
    html = sqlite_console.client.get("/review").text
    assert "等待下一次训练的更正：4 条" in html and "找不到当前模型的训练日期" in html


def test_corrections_that_cannot_be_read_are_an_error_not_zero(sqlite_console: Console) -> None:
    login(sqlite_console.client, "root")
    with sqlite_console.store.sessions.begin() as session:
        session.execute(text("DROP TABLE corrections"))
    with pytest.raises(Exception, match="corrections"):
        sqlite_console.client.get("/review")
