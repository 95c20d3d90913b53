import dataclasses
import itertools
import re
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import jinja2
import pytest

from bot.digest import (
    DigestData,
    MessageLine,
    build_digest,
    day_bounds,
    render_html,
    render_text,
    split_parts,
)
from bot.message import GroupMessage, MessageKind
from bot.records import AnalysedMessage
from nlp.verdict import Entity, Verdict

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 5, 9)
G = "123@chatroom"
_ids = itertools.count(1)


def am(
    sender: str,
    hhmm: str,
    text: str,
    *,
    name: str | None = None,
    kind: MessageKind = MessageKind.TEXT,
    useful: str | None = None,
    ad: tuple[str, float] | None = None,
    intent: str | None = None,
    reasons: tuple[str, ...] = (),
    reply_to: str | None = None,
    quote: str = "",
    mentions: tuple[str, ...] = (),
    entities: tuple[Entity, ...] = (),
    group: str = G,
    day: date = DAY,
    mid: str | None = None,
) -> AnalysedMessage:
    h, m = map(int, hhmm.split(":"))
    verdicts = {}
    if useful:
        verdicts["useful"] = Verdict("useful", useful, 0.9)
    if ad:
        verdicts["ad"] = Verdict("ad", ad[0], ad[1], reasons)
    if intent:
        verdicts["intent"] = Verdict("intent", intent, 0.8)
    msg = GroupMessage(
        id=mid or f"m{next(_ids)}",
        source="replay",
        group_id=group,
        sender_id=sender,
        sender_name=name if name is not None else sender.upper(),
        sent_at=datetime(day.year, day.month, day.day, h, m, tzinfo=TZ),
        kind=kind,
        text=text,
        reply_to=reply_to,
        quote=quote,
        mentions=mentions,
    )
    return AnalysedMessage(msg, verdicts, entities)


def useful(sender: str, hhmm: str, text: str, **kw) -> AnalysedMessage:
    return am(sender, hhmm, text, useful="useful", ad=("normal", 0.95), intent=kw.pop("intent", "other"), **kw)


def digest(messages, **kw) -> DigestData:
    kw.setdefault("top_n", 5)
    return build_digest(messages, group_id=G, group_name="AI 交流群", topic="人工智能", day=DAY, tz=TZ, **kw)


def all_text(data: DigestData) -> str:
    return "\n".join(render_text(data, max_part_chars=100_000))


# --------------------------------------------------------------------------- day bounds


def test_day_bounds_is_the_local_day_in_utc() -> None:
    start, end = day_bounds(DAY, TZ)
    assert start == datetime(2026, 5, 8, 16, 0, tzinfo=timezone.utc)
    assert end == datetime(2026, 5, 9, 16, 0, tzinfo=timezone.utc)
    assert start.tzinfo is timezone.utc and end.tzinfo is timezone.utc


def test_day_bounds_follows_daylight_saving() -> None:
    start, end = day_bounds(date(2026, 3, 8), ZoneInfo("America/New_York"))  # spring forward
    assert end - start == timedelta(hours=23)
    assert start == datetime(2026, 3, 8, 5, 0, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- counts


def test_counts_and_pending() -> None:
    msgs = [
        useful("u1", "09:00", "vLLM 0.9 发布了"),
        am("u2", "09:01", "哈哈哈", useful="useless", ad=("normal", 0.99), intent="chitchat"),
        am("u3", "09:02", "加V：wx_abc123 月入过万", useful="useless", ad=("ad", 0.97), intent="ad"),
        am("u2", "09:03", "[图片]", kind=MessageKind.IMAGE),  # no verdicts yet
        am("u4", "09:04", "有人用过 vLLM 吗", intent="question"),  # only intent so far
        am("sys", "09:05", "张三 加入了群聊", kind=MessageKind.SYSTEM),
        am("u5", "09:06", "skipped everywhere", useful="useless", ad=("normal", 0.5), intent="other"),
    ]
    skipped = {"ad": Verdict.skipped("ad", "disabled in config"), "useful": Verdict("useful", "useless", 0.6)}
    msgs[-1] = dataclasses.replace(msgs[-1], verdicts=skipped)
    d = digest(msgs)
    c = d.counts
    assert c.total == 7
    assert c.speakers == 5  # u1..u5; the system notice is nobody
    assert (c.useful, c.useless, c.ads, c.questions) == (1, 3, 1, 1)
    assert d.analysis_pending == 1  # the image with no verdict at all; system messages are not pending
    kinds = {k.kind: (k.label, k.count) for k in c.by_kind}
    assert kinds == {"text": ("文字", 5), "image": ("图片", 1), "system": ("系统", 1)}
    assert c.by_kind[0].kind == "text"  # most frequent first


def test_ignores_other_groups_and_other_days() -> None:
    msgs = [
        useful("u1", "00:00", "第一条，本地零点有人在吗？", intent="question"),
        useful("u2", "23:59", "最后一条：vLLM 怎么装？", intent="question"),
        useful("u1", "23:59", "前一天的问题？", day=DAY - timedelta(days=1), intent="question"),
        useful("u1", "00:00", "后一天零点的问题？", day=DAY + timedelta(days=1), intent="question"),
        useful("u1", "12:00", "别的群的问题？", group="999@chatroom", intent="question"),
    ]
    d = digest(msgs)
    assert d.counts.total == 2
    shown = all_text(d)
    assert "第一条" in shown and "最后一条" in shown
    assert "前一天" not in shown and "后一天" not in shown and "别的群" not in shown


def test_empty_day_renders() -> None:
    d = digest([])
    assert d.counts.total == 0 and d.topics == () and d.top_contributors == ()
    assert "没有消息" in all_text(d)
    assert "没有消息" in render_html(d)


# --------------------------------------------------------------------------- topics


def test_topics_count_useful_messages_by_keyword_leaving_out_the_group_topic() -> None:
    msgs = [
        useful("u1", "09:00", "vLLM 新版本推理速度提升明显"),
        useful("u2", "09:10", "vLLM 部署在 H100 上显存怎么算"),
        useful("u3", "09:20", "我们用 vLLM 跑 70B 模型"),
        useful("u4", "09:30", "vLLM 的量化支持也更新了"),
        useful("u1", "10:00", "RAG 检索增强的召回率要看 embedding"),
        useful("u2", "10:10", "RAG 里 embedding 选型很关键"),
        am("u5", "11:00", "vLLM vLLM vLLM 哈哈", useful="useless", ad=("normal", 0.9)),  # not useful: no topic
        am("u6", "11:30", "vLLM 课程限时优惠加V", useful="useful", ad=("ad", 0.99)),  # ad: no topic
    ]
    d = digest(msgs)
    by_kw = {t.keyword.lower(): t.count for t in d.topics}
    assert by_kw["vllm"] == 4 and by_kw["rag"] == 2, by_kw
    assert d.topics[0].keyword.lower() == "vllm"  # biggest first
    assert "人工智能" not in by_kw  # the group's own topic says nothing about the day
    assert "vLLM 4 条" in render_html(d)  # the page counts keywords; the text names the topic clusters
    assert d.clusters[0].terms[0].lower() == "vllm" and "· vLLM" in all_text(d)


def test_no_topics_without_useful_verdicts() -> None:
    msgs = [am("u1", "09:00", "vLLM 新版本"), am("u2", "09:01", "vLLM 不错")]
    d = digest(msgs)
    assert d.topics == ()
    assert d.analysis_pending == 2
    assert "尚未分析" in all_text(d)


# --------------------------------------------------------------------------- questions


def test_question_answered_by_reply_or_mention_but_not_by_self_or_earlier() -> None:
    msgs = [
        am("u9", "08:00", "@U1 早", mentions=("u1",)),  # before the question: does not answer it
        am("u1", "09:00", "有人在 H100 上跑过 vLLM 吗？", intent="question", mid="q1"),
        am("u1", "09:01", "顶一下", reply_to="q1"),  # the asker themself
        am("u2", "09:02", "跑过，4 卡够了", reply_to="q1"),
        am("u3", "09:03", "RAG 召回率怎么评估？", intent="question", mid="q2"),
        am("u4", "09:30", "@U3 看 recall@k", mentions=("u3",)),
        am("u2", "09:31", "同问", mentions=("u3",), name="U2"),
        am("u5", "10:00", "LoRA 和全参微调怎么选？", intent="question", mid="q3"),
        am("u5", "10:05", "自己顶", reply_to="q3"),
        am("u9", "11:10", "@U1 H100 还有问题吗", mentions=("u1",)),
    ]
    d = digest(msgs)
    t = {x.root.id: x for x in d.threads}
    assert set(t) == {"q1", "q2"}
    assert t["q1"].names == ("U2", "U9") and t["q1"].participants == 3
    assert t["q2"].names == ("U4", "U2")
    assert [q.id for q in d.unanswered] == ["q3"]
    assert (d.counts.questions, d.counts.answered) == (3, 2)
    shown = all_text(d)
    assert "🧵 热门讨论" in shown and "🙋 待解答" in shown and "LoRA 和全参微调怎么选" in shown


# --------------------------------------------------------------------------- links, announcements, ads


def test_links_from_cards_and_text_deduplicated_ads_excluded() -> None:
    msgs = [
        am("u1", "09:00", "RAG 综述 https://arxiv.org/abs/2312.10997 值得一读"),
        am("u2", "09:05", "同一篇 https://arxiv.org/abs/2312.10997"),
        am("u3", "09:10", "一篇公众号文章：大模型推理优化", kind=MessageKind.LINK),
        am("u4", "09:20", "看这个", entities=(Entity("URL", 3, 20, "https://x.example/p"),)),
        am("u5", "09:30", "课程 https://spam.example/buy", ad=("ad", 0.99)),
    ]
    d = digest(msgs)
    got = sorted((link.url, link.title, link.sender, link.count) for link in d.links)
    assert got == [
        ("", "一篇公众号文章：大模型推理优化", "U3", 1),
        ("https://arxiv.org/abs/2312.10997", "RAG 综述 值得一读", "U1", 2),  # shared twice
        ("https://x.example/p", "看这个", "U4", 1),
    ]
    assert d.counts.links == 3
    html = render_html(d)
    assert '<a href="https://arxiv.org/abs/2312.10997"' in html
    assert "spam.example" not in html and "spam.example" not in all_text(d)


def test_announcements() -> None:
    long = "【通知】群文件整理好了，" + "具体安排见群文件。" * 30
    msgs = [
        am("u1", "09:00", long, intent="announcement"),
        am("u2", "09:01", "收到", intent="chitchat"),
        am("u3", "09:02", "我觉得煎饼果子挺好吃的", intent="announcement"),  # says nothing announcing
        am("admin", "09:03", "以后新人进群先私聊我报一下公司和方向", intent="announcement"),  # an admin's
    ]
    d = digest(msgs, trusted=frozenset({"admin"}))
    assert [a.sender for a in d.announcements] == ["ADMIN", "U1"]  # admins first
    a = d.announcements[1]
    assert a.text.startswith("【通知】") and a.text.endswith("…") and len(a.text) <= 160
    assert d.counts.announcements == 2


def test_ads_masked_with_score_and_reason_and_threshold() -> None:
    msgs = [
        am(
            "spam1",
            "10:00",
            "副业月入过万，加V：wx_abc123 电话 138 0013 8000",
            name="推广小王",
            ad=("ad", 0.97),
            reasons=("keyword 加V", "model p=0.97"),
        ),
        am("spam2", "10:05", "低分的疑似广告", ad=("ad", 0.6)),
        am("u1", "10:06", "正常聊天", ad=("normal", 0.99)),
    ]
    d = digest(msgs)
    assert d.counts.ads == 2
    a = d.ads[0]
    assert a.count == 1
    assert (a.sender, a.time, a.score, a.reason) == ("推广小王", "10:00", 0.97, "keyword 加V")
    assert a.text == "副业月入过万，加V：wx_a*** 电话 138****8000"
    assert d.ads[1].reason == ""
    strict = digest(msgs, ad_threshold=0.9)
    assert strict.counts.ads == 1 and [x.sender for x in strict.ads] == ["推广小王"]


# --------------------------------------------------------------------------- contributors


def test_top_contributors_by_useful_then_total() -> None:
    msgs = [
        useful("a", "09:00", "有用一"),
        useful("a", "09:01", "有用二"),
        useful("b", "09:02", "有用三"),
        useful("b", "09:03", "有用四"),
        am("b", "09:04", "闲聊", useful="useless", ad=("normal", 0.9)),
        useful("c", "09:05", "有用五"),
        *[am("d", f"10:{i:02d}", "水", useful="useless", ad=("normal", 0.9)) for i in range(9)],
        *[am("spam", f"11:{i:02d}", "广告", ad=("ad", 0.99)) for i in range(20)],
        am("sys", "12:00", "某人加入了群聊", kind=MessageKind.SYSTEM),
    ]
    d = digest(msgs, top_n=3)
    assert [(c.name, c.useful, c.total) for c in d.top_contributors] == [("B", 2, 3), ("A", 2, 2), ("C", 1, 1)]
    d_all = digest(msgs, top_n=10)
    names = [c.name for c in d_all.top_contributors]
    assert names == ["B", "A", "C", "D"]  # the ad poster and the system never rank


# --------------------------------------------------------------------------- masking in both outputs

PRIVATE = [
    ("13800138000", "138****8000"),
    ("wx_secret99", "wx_s***"),
    ("zhang@example.com", "z***@example.com"),
    ("123456789", "12***89"),
]


def _private_digest() -> DigestData:
    msgs = [
        am(
            "u2",
            "09:00",
            "vLLM 怎么装？加我微信：wx_secret99",
            intent="question",
            useful="useful",
            ad=("normal", 0.9),
            mid="pq",
        ),
        useful("u1", "09:01", "邮箱 zhang@example.com 或 13800138000", name="张三 13800138000", reply_to="pq"),
        am("u3", "09:02", "【公告】QQ群号 123456789", intent="announcement"),
        am("u4", "09:03", "资料 https://example.com/doc 有问题找 QQ 123456789", kind=MessageKind.LINK),
        am("u5", "09:04", "加V：wx_secret99 月入过万", ad=("ad", 0.99), reasons=("keyword 加V wx_secret99",)),
    ]
    return digest(msgs)


@pytest.mark.parametrize("render", [all_text, render_html], ids=["text", "html"])
def test_outputs_never_show_contact_details(render) -> None:
    out = render(_private_digest())
    for raw, hint in PRIVATE:
        assert raw not in out
        assert hint in out


@pytest.mark.parametrize("render", [all_text, render_html], ids=["text", "html"])
def test_templates_mask_even_hand_built_data(render) -> None:
    """The template layer masks too: data built without build_digest still shows no phone number."""
    d = digest([useful("u1", "09:00", "vLLM 新版本")])
    raw = MessageLine("x", "李四 13900001111", "09:30", "13900001111 或 li@example.com")
    d = dataclasses.replace(d, announcements=(raw,), counts=dataclasses.replace(d.counts, announcements=1))
    out = render(d)
    assert "13900001111" not in out and "li@example.com" not in out
    assert "139****1111" in out and "l***@example.com" in out


# --------------------------------------------------------------------------- HTML


def test_html_escapes_message_text() -> None:
    msgs = [
        useful("u1", "09:00", "<script>x</script> & <b>粗体</b>", name="<img src=x onerror=alert(1)>", mid="x1"),
        useful("u2", "09:01", "这是什么写法？", reply_to="x1"),
    ]
    d = digest(msgs)
    html = render_html(d)
    assert "<script>" not in html and "<img src=x" not in html and "<b>粗体" not in html
    assert "&lt;script&gt;x&lt;/script&gt; &amp; &lt;b&gt;粗体&lt;/b&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    # the text form is not HTML: it shows the message as written
    assert "<script>x</script> & <b>粗体</b>" in all_text(d)


def test_html_is_standalone_and_mobile_friendly() -> None:
    html = render_html(_private_digest())
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert '<meta name="viewport"' in html and "<style>" in html
    assert not re.search(r"<(script|link|iframe)\b", html)
    assert "@import" not in html and "url(" not in html
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)  # no external asset
    for section in ("overview", "activity", "topics", "threads", "announcements", "links", "ads", "contributors"):
        assert f'id="{section}"' in html


def test_html_link_only_for_http_urls() -> None:
    d = digest([am("u1", "09:00", "文章", kind=MessageKind.LINK)])
    bad = dataclasses.replace(d.links[0], url="javascript:alert(1)")
    d = dataclasses.replace(d, links=(bad,))
    html = render_html(d)
    assert 'href="javascript' not in html


# --------------------------------------------------------------------------- StrictUndefined


def test_template_typo_fails_loudly(tmp_path) -> None:
    (tmp_path / "digest.txt.j2").write_text("{{ d.counts.totl }} 条消息\n", encoding="utf-8")
    (tmp_path / "digest.html.j2").write_text("<p>{{ d.group_nme }}</p>\n", encoding="utf-8")
    d = digest([])
    with pytest.raises(jinja2.UndefinedError, match="totl"):
        render_text(d, templates_dir=tmp_path)
    with pytest.raises(jinja2.UndefinedError, match="group_nme"):
        render_html(d, templates_dir=tmp_path)


@pytest.mark.parametrize("render", [render_text, render_html], ids=["text", "html"])
def test_shipped_templates_fail_when_data_lacks_a_field(render) -> None:
    d = _private_digest()
    fields = {f.name: getattr(d, f.name) for f in dataclasses.fields(d)} | {"title": d.title}
    render(SimpleNamespace(**fields))  # the stand-in renders as long as it is complete
    del fields["ads"]
    with pytest.raises(jinja2.UndefinedError, match="ads"):
        render(SimpleNamespace(**fields))


# --------------------------------------------------------------------------- splitting

MARKER = re.compile(r"^\((\d+)/(\d+)\)\n")


def _unmark(parts: list[str]) -> list[str]:
    n = len(parts)
    bodies = []
    for i, p in enumerate(parts, 1):
        m = MARKER.match(p)
        assert m, f"part {i} lacks a marker: {p[:20]!r}"
        assert (int(m[1]), int(m[2])) == (i, n)
        bodies.append(p[m.end() :])
    return bodies


def _nonblank(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def test_short_text_is_one_unmarked_part() -> None:
    assert split_parts("一\n二\n", 100) == ["一\n二"]


@pytest.mark.parametrize("limit", [60, 200, 2000])
def test_split_respects_limit_markers_and_loses_nothing(limit: int) -> None:
    sections = []
    for s in range(30):
        lines = [f"§{s} 第{i}行：" + "内容" * ((s * 7 + i * 3) % 13) for i in range(1 + s % 6)]
        sections.append("\n".join(lines))
    text = "\n\n".join(sections)
    parts = split_parts(text, limit)
    assert len(parts) > 1
    assert all(len(p) <= limit for p in parts), max(map(len, parts))
    bodies = _unmark(parts)
    assert _nonblank("\n".join(bodies)) == _nonblank(text)  # every line, in order, none split
    assert all(b.strip() and not b.startswith("\n") and not b.endswith("\n") for b in bodies)


def test_split_keeps_a_section_together_when_it_fits() -> None:
    a = "\n".join(["A" * 30] * 3)  # 92 chars
    b = "\n".join(["B" * 30] * 3)
    parts = split_parts(a + "\n\n" + b, 110)
    bodies = _unmark(parts)
    assert bodies == [a, b]


def test_split_hard_splits_an_over_long_line() -> None:
    line = "".join(chr(0x4E00 + i % 500) for i in range(1000))
    text = "开头\n" + line + "\n结尾"
    parts = split_parts(text, 120)
    assert all(len(p) <= 120 for p in parts)
    bodies = _unmark(parts)
    assert "".join(b.replace("\n", "") for b in bodies) == text.replace("\n", "")
    assert bodies[0].startswith("开头") and bodies[-1].endswith("结尾")


def test_split_marker_width_grows_with_part_count() -> None:
    # 32-char lines fit next to a "(1/2)" marker in 40 chars but not next to "(123/400)": the
    # splitter must notice the part count's width and hard-split every line.
    text = "\n".join(f"{i:03d}" + "x" * 29 for i in range(200))
    parts = split_parts(text, 40)
    assert len(parts) == 400
    assert all(len(p) <= 40 for p in parts), max(map(len, parts))
    assert "".join(_unmark(parts)) == text.replace("\n", "")


def test_split_rejects_a_limit_with_no_room() -> None:
    with pytest.raises(ValueError):
        split_parts("x" * 50, 6)


def test_render_text_parts_fit_the_limit() -> None:
    msgs = [useful(f"u{i % 7}", f"{9 + i // 60}:{i % 60:02d}", f"vLLM 第{i}条讨论 " + "细节" * 20) for i in range(120)]
    msgs += [am(f"q{i}", f"15:{i:02d}", f"问题{i}：RAG 怎么做？" + "啊" * 40, intent="question") for i in range(30)]
    d = digest(msgs)
    parts = render_text(d, max_part_chars=300)
    assert len(parts) > 1 and all(len(p) <= 300 for p in parts)
    whole = render_text(d, max_part_chars=100_000)
    assert len(whole) == 1 and not MARKER.match(whole[0])
    assert _nonblank("\n".join(_unmark(parts))) == _nonblank(whole[0])
    assert parts[0].split("\n")[1].startswith("📊 AI 交流群")


def test_split_does_not_leave_a_heading_at_the_end_of_a_part() -> None:
    topics = "\n".join(
        f"【话题{t}】3 条\n" + "\n".join(f"· 09:0{i} 某人：" + "内容" * 8 for i in range(3)) for t in range(6)
    )
    text = "🔥 今日话题\n" + topics
    parts = split_parts(text, 120)
    bodies = _unmark(parts)
    assert all(len(p) <= 120 for p in parts)
    for b in bodies[:-1]:
        assert b.split("\n")[-1].startswith("·"), b
    assert _nonblank("\n".join(bodies)) == _nonblank(text)


def test_an_ad_only_the_model_sees_is_not_counted_when_corroboration_is_asked():
    from datetime import date, datetime, timezone
    from zoneinfo import ZoneInfo

    from bot.digest import build_digest
    from bot.message import GroupMessage, MessageKind
    from bot.records import AnalysedMessage
    from nlp.verdict import Verdict

    def am(i, rules_label):
        msg = GroupMessage(
            f"x{i}",
            "replay",
            "g",
            "u",
            "u",
            datetime(2026, 5, 9, 2, i, tzinfo=timezone.utc),
            MessageKind.TEXT,
            "很长的一段技术提问" * 5,
        )
        return AnalysedMessage(
            msg, {"ad": Verdict("ad", "ad", 0.99), "ad_rules": Verdict("ad_rules", rules_label, 0.9)}
        )

    msgs = [am(1, "normal"), am(2, "ad")]
    kw = dict(group_id="g", group_name="g", topic="AI", day=date(2026, 5, 9), tz=ZoneInfo("Asia/Shanghai"))
    assert build_digest(msgs, **kw).counts.ads == 2
    assert build_digest(msgs, **kw, corroborate=True).counts.ads == 1
    assert build_digest(msgs, **kw, trusted=frozenset({"u"})).counts.ads == 0  # an admin's posts
