"""Topics as clusters, with who talked (issue 20, point 4): the day's useful messages grouped
without a count chosen in advance (by the shipped encoder, or by content words without it),
near-duplicates once, named by key terms, with contributors (never a member who opted out) and the
best message; verified like every quote; shown by the text, the HTML and the card, under headings
that name the period."""

import dataclasses
import functools
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from bot import catalogue
from bot.digest import build_digest, clusters, hours_period, month_period, range_period, week_period
from bot.digest.card import headings
from bot.digest.data import Speaker, Summary
from bot.digest.dedupe import EMBED_LAYER
from bot.digest.render import render_html, render_text
from bot.digest.topics import terms
from bot.digest.verify import QuoteError, check, enforce
from tests.bot.digest.helpers import DAY, TZ, G, msg

MODEL = Path(__file__).resolve().parents[3] / "models" / "qunzhi"
HIDDEN = "h"  # a member who opted out


def day() -> list:
    """Two topics (LoRA learning rates, a 4090's memory), a question asked twice, chit-chat, a
    lone remark, and a member who opted out writing on the second topic."""
    return [
        msg("a", "09:00", "LoRA 微调 Qwen2.5-7B 的学习率一般设多少？", mid="lora1", useful=0.9),
        msg("b", "09:02", "LoRA 学习率我一般用 2e-4，rank 设 16 就够了", mid="lora2", useful=0.95),
        msg("c", "09:05", "学习率太大 LoRA 微调会发散，建议先用 1e-4 试试", mid="lora3", useful=0.9),
        msg("x", "09:06", "哈哈哈哈今天好冷", mid="chat1", useful=0.1),
        msg("a", "09:30", "LoRA 微调 Qwen2.5-7B 的学习率一般设多少？？", mid="lora4", useful=0.9),  # asked again
        msg("b", "09:40", "LoRA 的 rank 和学习率要一起调，rank 大了学习率就小一点", mid="lora5", useful=0.85),
        msg("d", "10:00", "4090 显卡跑 7B 模型推理，24G 显存够吗", mid="gpu1", useful=0.8),
        msg("e", "10:03", "够的，int8 量化之后权重 8G 左右，4090 还剩不少显存给 KV cache", mid="gpu2", useful=0.9),
        msg(HIDDEN, "10:04", "我的 4090 显卡也是这么跑的，显存占用 20G", mid="gpu3", useful=0.9, name="隐身人"),
        msg("d", "10:10", "那 4090 跑 13B 模型推理显存就不够了吧", mid="gpu4", useful=0.8),
        msg("f", "11:00", "周末有人一起去爬山吗", mid="lone", useful=0.6),
    ]


def build(messages, *, embed=None, **kw):
    kw.setdefault("day", DAY)
    return build_digest(
        messages, group_id=G, group_name="大模型群", topic="大模型", tz=TZ, opted_out={HIDDEN}, embed=embed, **kw
    )


def ids(cluster) -> set[str]:
    return {m.id for m in cluster.messages}


# --------------------------------------------------------------------------- the clustering


def test_average_linkage_finds_as_many_groups_as_the_data_has():
    """No count given: three blocks of similar items are three groups; a threshold above every
    similarity leaves each item alone, one below every similarity makes one group."""
    block = np.full((3, 3), 0.8)
    sim = np.full((9, 9), 0.05)
    for b in range(3):
        sim[3 * b : 3 * b + 3, 3 * b : 3 * b + 3] = block
    np.fill_diagonal(sim, 1.0)
    order = [0, 3, 6, 1, 4, 7, 2, 5, 8]  # interleaved, as a day's topics are
    sim = sim[np.ix_(order, order)]
    assert clusters.average_linkage(sim, 0.5) == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    assert clusters.average_linkage(sim, 0.9) == [[k] for k in range(9)]
    assert clusters.average_linkage(sim, 0.0) == [list(range(9))]
    assert clusters.average_linkage(np.ones((1, 1)), 0.5) == [[0]]


def test_average_linkage_uses_the_average_not_the_closest_pair():
    """A chain a~b~c with a and c unlike: single linkage would join all three; average linkage
    joins a and b and keeps c apart at a threshold above (0.6 + 0.1) / 2."""
    sim = np.array([[1.0, 0.9, 0.1], [0.9, 1.0, 0.6], [0.1, 0.6, 1.0]])
    assert clusters.average_linkage(sim, 0.5) == [[0, 1], [2]]
    assert clusters.average_linkage(sim, 0.3) == [[0, 1, 2]]


def test_the_similarity_is_the_share_of_content_words():
    texts = ["GRPO 复现 R1-Zero 踩坑记录", "GRPO 大概要多少卡？", "今天好冷啊", ""]
    sim = clusters.term_jaccard(texts)
    a, b = terms(texts[0]), terms(texts[1])
    assert "grpo" in a & b and sim[0, 1] == pytest.approx(len(a & b) / len(a | b)) and 0 < sim[0, 1] < 1
    assert sim[0, 2] == 0.0 and sim[3, 3] == 1.0 and sim[0, 3] == 0.0  # no words: like nothing but itself
    assert (sim == sim.T).all()


def test_a_topic_is_named_by_words_its_messages_share():
    """jieba tags 显存 and 显卡 as verbs, so TF-IDF keywords miss them; shared content words fill in."""
    texts = ["4090 显卡跑 7B 模型推理，24G 显存够吗", "那 4090 跑 13B 模型推理显存就不够了吧"]
    assert set(clusters.key_terms(texts, 3, exclude="大模型")) == {"推理", "显存"}  # 模型: the group's own topic
    assert clusters.key_terms(["LoRA 学习率", "lora 的 rank"], 3, exclude="")[0] in ("LoRA", "lora")
    assert "学习率" not in clusters.key_terms(["LoRA 学习率", "LoRA 学习率"], 3, exclude="学习率调参")


def test_a_members_name_names_no_topic():
    texts = ["欢迎 Jason，做 Agent 的", "Jason 在深圳做 Agent 应用"]
    (group,) = clusters.find(texts, [1.0, 1.0], names=["深圳-Jason"])
    assert "Agent" in group.terms and "Jason" not in group.terms


# --------------------------------------------------------------------------- in the digest, without the encoder


def test_topics_are_found_without_a_count_given_and_named_by_their_words():
    d = build(day())
    assert len(d.clusters) == 2
    lora, gpu = d.clusters
    assert ids(lora) == {"lora1", "lora2", "lora3", "lora5"}  # the question asked again is one message
    assert lora.size == 4 and next(m for m in lora.messages if m.id == "lora1").count == 2
    assert ids(gpu) == {"gpu1", "gpu2", "gpu4"}
    assert "lora" in [t.lower() for t in lora.terms] and {"4090", "显存"} & set(gpu.terms)
    for c in (lora, gpu):  # key terms of its own messages
        assert all(any(t.lower() in m.text.lower() for m in c.messages) for t in c.terms)
    assert lora.name == " · ".join(lora.terms) and "大模型" not in lora.terms  # the group's own topic names nothing
    assert lora.contributors == (Speaker("B", 2), Speaker("A", 1), Speaker("C", 1))
    assert lora.best.id == "lora2"  # the most useful
    assert [m.time for m in lora.messages] == sorted(m.time for m in lora.messages)
    check(d, day(), opted_out={HIDDEN})  # every line and name is real


def test_a_member_who_opted_out_is_never_clustered_nor_named():
    d = build(day())
    for c in d.clusters:
        assert "gpu3" not in ids(c) and all(s.name != "隐身人" for s in c.contributors)
    assert "隐身人" not in "".join(render_text(d)) + render_html(d)


def test_lone_messages_chit_chat_and_ads_are_no_topic():
    messages = day()
    messages.append(msg("z", "12:00", "LoRA 学习率调参课程限时优惠，加微信报名", mid="ad1", useful=0.9, ad=True))
    d = build(messages, ad_threshold=0.5)
    found = set().union(*(ids(c) for c in d.clusters))
    assert not found & {"lone", "chat1", "ad1"}


def test_a_quiet_day_has_no_topics():
    assert build([]).clusters == ()
    assert build([msg("a", "09:00", "LoRA 学习率一般设多少？", useful=0.9)]).clusters == ()


# --------------------------------------------------------------------------- with the shipped encoder


@pytest.fixture(scope="module")
def embed():
    from nlp.classify import ModelAnalyzer

    return functools.partial(ModelAnalyzer(MODEL).embed, layer=EMBED_LAYER)


def test_with_the_shipped_encoder_near_duplicates_are_its_and_topics_the_words(embed):
    """The encoder decides near-duplicates (the re-asked question is one message of its topic);
    topics are grouped by words, so they are the same as without it (clusters.py says why)."""
    asked: list[str] = []

    def counting(texts):
        asked.extend(texts)
        return embed(texts)

    d = build(day(), embed=counting)
    assert d.similarity.startswith("encoder") and asked
    lora = next(c for c in d.clusters if "lora1" in ids(c))
    assert "lora4" not in ids(lora) and next(m for m in lora.messages if m.id == "lora1").count == 2
    assert [ids(c) for c in d.clusters] == [ids(c) for c in build(day()).clusters]
    assert len(asked) == len(set(asked))  # each text encoded once: the topics asked for nothing
    check(d, day(), opted_out={HIDDEN})


# --------------------------------------------------------------------------- verified


def test_a_builder_that_invents_or_misattributes_in_a_cluster_is_caught():
    messages = day()
    d = build(messages)
    lora = d.clusters[0]
    invented = dataclasses.replace(lora.messages[1], text="LoRA 学习率用 1e-3 最好")
    stolen = dataclasses.replace(lora.best, sender="C")  # b's words shown as c's
    wrong_count = Speaker("C", 3)
    for bad, kind in [
        (dataclasses.replace(lora, messages=(lora.messages[0], invented, *lora.messages[2:])), "not verbatim"),
        (dataclasses.replace(lora, best=stolen), "misattributed"),
        (dataclasses.replace(lora, contributors=(*lora.contributors[:2], wrong_count)), "misattributed"),
        (dataclasses.replace(lora, contributors=(Speaker("隐身人", 1),)), "opted out"),
    ]:
        forged = dataclasses.replace(d, clusters=(bad, *d.clusters[1:]))
        with pytest.raises(QuoteError) as e:
            check(forged, messages, opted_out={HIDDEN})
        assert {p.kind for p in e.value.problems} == {kind}, e.value
        assert all(p.where.startswith("clusters[0]") for p in e.value.problems)
    # enforce: the failing line goes; a cluster whose best message fails goes whole
    kept = enforce(
        dataclasses.replace(d, clusters=(dataclasses.replace(lora, best=stolen), *d.clusters[1:])), messages, {HIDDEN}
    )
    assert [c.name for c in kept.clusters] == [c.name for c in d.clusters[1:]]
    kept = enforce(
        dataclasses.replace(d, clusters=(dataclasses.replace(lora, contributors=(wrong_count,)), *d.clusters[1:])),
        messages,
        {HIDDEN},
    )
    assert kept.clusters[0].contributors == () and kept.clusters[0].messages == lora.messages


# --------------------------------------------------------------------------- shown


def test_the_text_the_page_and_the_card_show_the_topics():
    d = build(day())
    lora = d.clusters[0]
    text = "\n".join(render_text(d))
    assert catalogue.DIGEST["topics"] in text
    n = catalogue.DIGEST["cluster_size"].format(n=4)
    assert f"· {' · '.join(lora.terms[:2])}（{n} · B、A）" in text  # short: two terms, two names
    page = render_html(d)
    assert lora.name in page and "B（2）、A（1）、C（1）" in page and lora.best.text in page
    assert all(m.text in page for m in lora.messages)
    assert catalogue.DIGEST["llm_summary_mark"] not in text + page  # no model, no summary


def test_a_model_summary_is_marked_and_lists_its_sources():
    d = build(day())
    lora = d.clusters[0]
    summary = Summary("大家建议 LoRA 学习率从 1e-4 到 2e-4 起步", "qwen2.5:7b", ("lora2", "lora3"))
    d = dataclasses.replace(d, clusters=(dataclasses.replace(lora, summary=summary), *d.clusters[1:]))
    text = "\n".join(render_text(d))
    mark = catalogue.DIGEST["llm_summary_mark"]
    assert f"{summary.text}{mark}" in text
    assert f"{catalogue.DIGEST['llm_sources']}B 09:02、C 09:05" in text
    page = render_html(d)
    assert summary.text in page and mark in page
    sources = page.split('class="sources"')[1].split("</ul>")[0]
    assert "lora" not in sources and "2e-4，rank" in sources and "1e-4 试试" in sources
    assert "Qwen2.5-7B 的学习率一般设多少" not in sources  # an uncited message is no source


def test_the_card_draws_the_topics():
    pytest.importorskip("PIL")
    from bot.digest.card import CardFontError, find_cjk_font, render_card

    try:
        find_cjk_font()
    except CardFontError:
        pytest.skip("no CJK font here (tests/bot/digest/test_card.py says which package)")
    d = build(day())
    with_topics = render_card(d)
    without = render_card(dataclasses.replace(d, clusters=()))
    assert with_topics[:8] == b"\x89PNG\r\n\x1a\n"
    assert _height(with_topics) > _height(without)  # the topics take room


def _height(png: bytes) -> int:
    return int.from_bytes(png[20:24], "big")


# --------------------------------------------------------------------------- headings name the period


NOW = datetime(2026, 11, 25, 18, 0, tzinfo=TZ)


HEADINGS = {  # what the header, the topics heading and the signature say (catalogue.DIGEST keys)
    "day": ("daily", "topics", "signature"),
    "hours": ("range_digest", "topics_range", "signature_range"),
    "range": ("range_digest", "topics_range", "signature_range"),
    "week": ("weekly", "topics_week", "signature_week"),
    "month": ("monthly", "topics_month", "signature_month"),
}


@pytest.mark.parametrize(
    ("period", "scope"),
    [
        (None, "day"),
        (hours_period(NOW.astimezone(timezone.utc), 12, TZ), "hours"),
        (range_period(NOW - timedelta(days=2), NOW, TZ), "range"),
        (week_period(DAY, TZ), "week"),
        (month_period(DAY, TZ), "month"),
    ],
)
def test_headings_name_the_period(period, scope):
    d = build(day(), period=period, day=period.last_day(TZ) if period else DAY)
    assert d.scope == scope and d.clusters
    words = [catalogue.DIGEST[k] for k in HEADINGS[scope]]
    assert list(headings(scope).values()) == words  # the card says what the templates say
    text, page = "\n".join(render_text(d)), render_html(d)
    for shown in (text, page):
        assert all(w in shown for w in words)
        if scope != "day":
            assert catalogue.DIGEST["topics"] not in shown and catalogue.DIGEST["signature"] not in shown
            assert catalogue.DIGEST["daily"] not in shown


def test_a_member_digest_is_signed_as_a_summary():
    d = build(day(), member="b", member_name="B")
    text = "\n".join(render_text(d))
    assert catalogue.DIGEST["signature_range"] in text and catalogue.DIGEST["signature"] not in text
    assert headings("day", "B")["signature"] == catalogue.DIGEST["signature_range"]
