"""The digest as a whole: opt-out, the charts in the HTML, short text; and the demo day through
the real pipeline (rule analyzers), store and make_digest."""

import base64
import re

import pytest

from bot.cli import DEMO_DIR, main
from bot.config import load_config
from bot.daily import make_digest
from bot.digest import build_digest, render_html, render_text
from bot.digest.charts import PNG_SIGNATURE, activity_png, data_uri, topics_png
from bot.digest.data import HourCount, Topic
from bot.message import MessageKind
from bot.store import groups as groups_db
from bot.wiring import open_store
from nlp.patterns import extract_patterns
from tests.bot.digest.helpers import DAY, TZ, G, msg


def digest(messages, **kw):
    kw.setdefault("extract_times", extract_patterns)
    return build_digest(messages, group_id=G, group_name="AI 群", topic="人工智能", day=DAY, tz=TZ, **kw)


def text_of(d) -> str:
    return "\n".join(render_text(d, max_part_chars=100_000))


def images(html: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_opted_out_members_are_counted_but_never_quoted():
    ms = [
        msg("hid", "09:00", "vLLM 部署 OOM 怎么办？秘密问题甲", mid="hq", name="隐身人", intent="question", useful=0.9),
        msg("a", "09:01", "上 AWQ 吧", reply_to="hq", useful=0.9),
        msg("a", "10:00", "RAG 召回率低怎么优化？", mid="q", intent="question", useful=0.9),
        msg("hid", "10:01", "秘密回答乙：加 reranker", reply_to="q", name="隐身人", useful=0.9),
        msg("b", "10:02", "说得对，@隐身人 的办法加上 BM25 混合检索也行", reply_to="q", mentions=("hid",), useful=0.9),
        msg("hid", "11:00", "【通知】秘密公告丙，明晚8点线上分享", name="隐身人", intent="announcement"),
        msg("hid", "12:00", "秘密链接丁 https://secret.example/x", kind=MessageKind.LINK, name="隐身人", useful=0.9),
        msg("hid", "13:00", "秘密广告戊 加V：wx_hidden1", name="隐身人", ad=True),
        msg("hid", "14:00", "秘密问题己，没人回答吗？", name="隐身人", intent="question", useful=0.9),
    ]
    d = digest(ms, opted_out={"hid"})
    assert d.counts.total == 9 and d.counts.speakers == 3 and d.counts.ads == 1  # counted
    assert d.counts.questions == 3
    for out in (text_of(d), render_html(d)):
        assert "秘密" not in out and "隐身人" not in out and "secret.example" not in out
    (t,) = d.threads  # their own question is not shown; the one they answered is, without them
    assert t.root.id == "q" and t.names == ("B",) and t.reply_count == 2 and t.participants == 3
    assert "@群友" in t.best.text
    assert not d.events and not d.announcements and not d.links and not d.ads and not d.unanswered
    assert [c.name for c in d.top_contributors] == ["A", "B"]
    visible = digest(ms)
    assert "秘密" in text_of(visible)  # the same day without the opt-out shows them


def test_the_html_embeds_the_activity_chart_and_the_topic_bars_as_png():
    ms = [
        msg("a", "09:00", "vLLM 部署在 H100 上显存怎么算？", mid="q", useful=0.9, intent="question"),
        msg("b", "09:05", "vLLM 会预留 90% 显存给 KV cache", reply_to="q", useful=0.9),
        msg("c", "21:00", "RAG 检索增强的召回率要看 embedding", useful=0.9),
        msg("s", "21:30", "加V：wx_abc123 日赚300", ad=True),
    ]
    d = digest(ms)
    assert [(h.hour, h.useful, h.other, h.ads) for h in d.activity if h.useful + h.other + h.ads] == [
        (9, 2, 0, 0),
        (21, 1, 0, 1),
    ]
    html = render_html(d)
    pngs = images(html)
    assert len(pngs) == 2 and all(p.startswith(PNG_SIGNATURE) for p in pngs)
    assert 'id="activity"' in html and 'id="topics"' in html
    assert "vLLM" in html.split('id="topics"')[1].split("</section>")[0]  # the keywords in words too


def test_no_charts_on_a_quiet_day():
    html = render_html(digest([]))
    assert images(html) == [] and "没有消息" in html


def test_chart_functions_give_pngs_and_data_uris():
    hours = [HourCount(h, h % 3, 1, h % 2) for h in range(24)]
    assert activity_png(hours).startswith(PNG_SIGNATURE)
    png, labelled = topics_png([Topic("RAG", 9), Topic("vLLM", 4)])
    assert png.startswith(PNG_SIGNATURE) and labelled  # Latin keywords need no CJK font
    assert data_uri(png).startswith("data:image/png;base64,")
    with pytest.raises(ValueError):
        data_uri(b"GIF89a")


def _normal_day():
    ms = []
    for i in range(12):  # questions, each with two answers and a thank-you
        q = f"q{i}"
        ms.append(
            msg(
                f"u{i}",
                f"{8 + i}:00",
                f"第{i}个问题：vLLM 部署 Qwen2.5 第 {i} 种配置显存不够怎么办？",
                mid=q,
                intent="question",
                useful=0.9,
            )
        )
        ms.append(
            msg(
                f"v{i}",
                f"{8 + i}:05",
                f"第{i}个回答：把 --max-model-len 降到 8192，再开 AWQ 量化就能起来",
                reply_to=q,
                useful=0.95,
            )
        )
        ms.append(msg(f"w{i}", f"{8 + i}:06", f"补充{i}：--gpu-memory-utilization 给 0.9 试试", reply_to=q, useful=0.9))
        ms.append(msg(f"u{i}", f"{8 + i}:10", "好的 谢谢", useful=0.1, intent="chitchat"))
    for i in range(40):
        ms.append(msg(f"c{i % 9}", f"{8 + i % 14}:{20 + i % 30}", f"哈哈 闲聊第{i}句", useful=0.1, intent="chitchat"))
    ms.append(
        msg(
            "y",
            "11:52",
            "【周六线上分享会】\n主题：企业级 RAG\n时间：本周六晚8点\n报名截止周五中午12点",
            intent="announcement",
        )
    )
    ms.append(
        msg("l", "13:00", "推荐一篇 https://arxiv.org/abs/2405.07437 RAG 评测综述", kind=MessageKind.LINK, useful=0.9)
    )
    for i in range(3):
        ms.append(msg(f"s{i}", f"1{i}:30", f"兼职日赚300，加V：wx_abc12{i}", ad=True))
    return sorted(ms, key=lambda m: m.message.sent_at)


def test_the_text_of_a_normal_day_is_short_and_the_html_has_the_rest():
    d = digest(_normal_day())
    text = text_of(d)
    assert len(text) <= 1200, len(text)
    assert text.count("\n1. ") == 1 and "\n4. " in text and "\n5. " not in text  # four threads in text
    assert len(d.threads) == 8  # the HTML shows more
    assert "🗓" in text and "20:00" in text and "⏰" in text
    html = render_html(d)
    assert html.count('class="thread"') == 8


# --------------------------------------------------------------------------- the demo day


@pytest.fixture(scope="module")
def demo_day(tmp_path_factory):
    """The bundled sample day replayed with the rule analyzers into SQLite (fast, no model)."""
    tmp = tmp_path_factory.mktemp("demo")
    cfg = tmp / "demo.toml"
    cfg.write_text(
        (DEMO_DIR / "demo.toml").read_text("utf-8")
        + f'\n[database]\nurl = "sqlite:///{tmp / "d.db"}"\n[models]\nuse = false\n',
        "utf-8",
    )
    assert main(["--config", str(cfg), "replay", str(DEMO_DIR / "sample_day.jsonl")]) == 0
    return load_config(cfg)


def test_the_demo_day_shows_threads_events_and_charts(demo_day, capsys):
    capsys.readouterr()
    store = open_store(demo_day)
    try:
        r = make_digest(store.sessions, demo_day, "ai-dev-2026@chatroom", DAY, save=False)
    finally:
        store.close()
    (text,) = r.text_parts
    assert len(text) <= 1300, len(text)
    assert "🧵 热门讨论" in text and "🗓 日程" in text
    assert "周六 11/28 20:00" in text and "⏰" in text  # the RAG session and its sign-up deadline
    assert "×2" in text  # a near-duplicate merged
    assert "138 0013 8000" not in r.html and "13800138000" not in r.html
    assert len(images(r.html)) == 2
    assert r.data.similarity.startswith("3-gram")  # models off: lexical near-duplicates


def test_make_digest_never_quotes_an_opted_out_member(demo_day):
    store = open_store(demo_day)
    try:
        before = make_digest(store.sessions, demo_day, "ai-dev-2026@chatroom", DAY, save=False)
        assert "杭州-阿里-阿文" in before.text_parts[0]
        with store.sessions.begin() as s:
            groups_db.set_opted_out(s, "ai-dev-2026@chatroom", "wxid_t8u2ho6c")
        after = make_digest(store.sessions, demo_day, "ai-dev-2026@chatroom", DAY, save=False)
    finally:
        store.close()
    for out in (*after.text_parts, after.html):
        assert "杭州-阿里-阿文" not in out and "召回从 60% 到 74%" not in out
    assert after.data.counts.total == before.data.counts.total
