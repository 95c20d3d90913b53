"""Threads: which message joins which question or link, and how threads rank."""

import pytest

from bot.digest import dedupe
from bot.digest.threads import find_threads, score
from bot.message import MessageKind
from tests.bot.digest.helpers import msg


def threads_of(messages, ads=frozenset()):
    clusters = dedupe.cluster([(m.message.id, m.message.text) for m in messages], None)
    found, thread_of = find_threads(messages, ads=set(ads), clusters=clusters)
    members = {t.root.message.id: [r.message.id for r in t.replies] for t in found}
    return found, members, thread_of


def test_replies_and_replies_to_replies_join_the_question():
    ms = [
        msg("a", "08:00", "两张4090部署 Qwen2.5-32B，vLLM 一启动就 OOM，有人遇到过吗", mid="q"),
        msg("b", "08:05", "tensor-parallel-size 设成 2 了吗", mid="r1", reply_to="q", intent="question"),
        msg("a", "08:06", "设了，--tensor-parallel-size 2", mid="r2", reply_to="r1"),
        msg("c", "09:30", "32B fp16 光权重就 64G 左右，放不下", mid="r3", reply_to="q"),
    ]
    found, members, _ = threads_of(ms)
    assert members == {"q": ["r1", "r2", "r3"]}
    (t,) = found
    assert t.kind == "question" and t.direct == {"r1", "r3"}
    assert [a.message.id for a in t.answers()] == ["r1", "r3"]  # the asker's own reply is no answer


def test_a_wechat_quote_without_an_id_is_matched_by_name_and_text():
    ms = [
        msg("a", "15:38", "有人在生产上用过 Milvus 2.5 的混合检索吗？", mid="q", name="阿杰"),
        msg("x", "15:39", "有人在生产上用过 Milvus 2.5 的混合检索吗？我也想知道", mid="other", name="别人"),
        msg(
            "b",
            "15:41",
            "用过，BM25 要自己配分词",
            mid="r",
            kind=MessageKind.QUOTE,
            quote="阿杰：有人在生产上用过 Milvus 2.5 的混合检索吗？",
        ),
    ]
    _, members, thread_of = threads_of(ms)
    assert thread_of["r"].root.message.id == "q"
    assert "r" in members["q"]


def test_a_mention_joins_the_askers_question_it_shares_terms_with():
    ms = [
        msg("s", "10:48", "请教下 LoRA 微调，学习率一般设多少？", mid="lora"),
        msg("s", "16:08", "让模型输出 JSON 总是格式不对，大家怎么搞的？", mid="json"),
        msg("l", "17:16", "@苏苏 正好和你上午问的相关：LoRA 的最优学习率大概是全参的 10 倍", mid="m", mentions=("s",)),
        msg("k", "22:00", "@苏苏 那到时候现场见", mid="late", mentions=("s",)),  # nothing shared, hours later
    ]
    _, members, thread_of = threads_of(ms)
    assert thread_of["m"].root.message.id == "lora"
    assert "late" not in thread_of


def test_thanks_to_answerers_join_the_askers_own_thread():
    ms = [
        msg("a", "08:00", "vLLM 启动 OOM 怎么办？", mid="q"),
        msg("k", "08:02", "上 AWQ 吧", mid="r", reply_to="q"),
        msg("z", "09:00", "RAG 召回率低怎么优化？", mid="q2"),
        msg("a", "10:03", "@Kevin 换 AWQ 跑起来了 🎉", mid="thx", mentions=("k",)),
    ]
    _, members, _ = threads_of(ms)
    assert members["q"] == ["r", "thx"]


def test_close_follow_ups_join_but_a_new_question_starts_a_thread():
    ms = [
        msg("j", "19:30", "Agent 框架选 LangGraph 还是自己写？", mid="q"),
        msg("e", "19:31", "LangGraph，状态机可控", mid="r", reply_to="q"),
        msg("j", "19:33", "那人工介入一般怎么做？", mid="f", intent="question"),  # the asker goes on
        msg("j", "19:36", "再问一个：向量库选 Milvus 还是 pgvector？", mid="q2", intent="question"),
    ]
    found, members, _ = threads_of(ms)
    assert members["q"] == ["r", "f"]
    assert "q2" in members and members["q2"] == []


def test_an_answer_by_proximity_must_share_a_term():
    ms = [
        msg("z", "10:35", "有人在昇腾 910B 上用 MindIE 跑过 Qwen2.5-72B 吗？", mid="q"),
        msg("w", "10:41", "发错群了 😅", mid="noise", intent="answer"),
        msg("d", "10:43", "MindIE 8 卡大概 1500 token/s", mid="ans", intent="answer"),
    ]
    _, members, thread_of = threads_of(ms)
    assert members["q"] == ["ans"]
    assert "noise" not in thread_of


def test_a_reasked_question_and_a_reshared_link_join_the_first():
    ms = [
        msg("z", "10:35", "有人在昇腾 910B 上用 MindIE 跑过 Qwen2.5-72B 吗？想知道 8 卡吞吐", mid="q"),
        msg("z", "16:20", "再问一下：有人在昇腾 910B 上用 MindIE 跑过 Qwen2.5-72B 吗？想知道 8 卡吞吐", mid="q2"),
        msg("l", "15:20", "GRPO 踩坑记录 https://huggingface.co/blog/grpo-pitfalls", mid="link", kind=MessageKind.LINK),
        msg("w", "22:38", "这篇有人发过吗？https://huggingface.co/blog/grpo-pitfalls", mid="again"),
    ]
    ms.sort(key=lambda m: m.message.sent_at)
    found, _, thread_of = threads_of(ms)
    assert [c.message.id for c in thread_of["q2"].copies] == ["q2"] and thread_of["q2"].root.message.id == "q"
    assert thread_of["again"].root.message.id == "link" and len(thread_of["again"].copies) == 1
    assert not thread_of["q"].answers()  # a copy is no answer


def test_ads_and_reactions_to_ads_are_no_threads():
    ms = [
        msg("spam", "09:41", "韩国面膜代理，加我微信 wx_mm520888", mid="ad", ad=True),
        msg("a", "09:42", "？？？这是什么", mid="huh", reply_to="ad"),
    ]
    found, _, thread_of = threads_of(ms, ads={"ad"})
    assert found == [] and not thread_of


def test_score_counts_useful_answers_and_participants():
    ms = [
        msg("a", "08:00", "RAG 召回率低怎么优化？", mid="big", useful=0.9),
        msg("b", "08:01", "加 reranker", reply_to="big", useful=0.9),
        msg("c", "08:02", "BM25 混合检索", reply_to="big", useful=0.9),
        msg("d", "09:00", "LoRA 学习率设多少？", mid="small", useful=0.9),
        msg("e", "09:01", "哈哈", reply_to="small", useful=0.1),
    ]
    found, _, _ = threads_of(ms)
    use = {
        m.message.id: (m.verdicts["useful"].score if m.label("useful") == "useful" else 1 - m.verdicts["useful"].score)
        for m in ms
    }
    by = {t.root.message.id: score(t, use) for t in found}
    assert by["big"] == pytest.approx(0.9 + 0.9 + 0.9 + 0.5 * 2)
    assert by["small"] == pytest.approx(0.9 + 0.1 + 0.5)
    assert by["big"] > by["small"]
