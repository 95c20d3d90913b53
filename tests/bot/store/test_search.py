"""Full-text message search on SQLite (FTS5) and PostgreSQL (GIN over 'simple' tsvectors): Chinese
words inside sentences, AND of terms, the filters, lazy idempotent indexing, and purged texts gone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from bot.store import analysis, messages, purge, search
from bot.store.common import COMMAND, MESSAGE_SEARCH
from bot.store.search import SearchFilters
from nlp.verdict import Verdict
from tests.bot.store.conftest import GROUP, T0, make_msg

OTHER = "456@chatroom"
TEXTS = [
    ("我们组最近在选向量数据库，大家有推荐吗", "wxid_alice", GROUP),
    ("大模型推理成本太高了", "wxid_bob", GROUP),
    ("加我微信 wx123456 代开发票 低价", "wxid_spam", GROUP),
    ("向量检索用 Milvus 还是 pgvector？", "wxid_bob", OTHER),
    ("今天天气不错", "wxid_alice", OTHER),
]


def fill(session: Session) -> list[int]:
    """The five messages above, a minute apart (n = 1..5), each analysed: message 3 is an ad,
    message 1 useful; then indexed."""
    pks = [
        messages.store_message(session, make_msg(n, text=body, sender_id=sender, sender_name=sender[5:], group_id=g))[0]
        for n, (body, sender, g) in enumerate(TEXTS, start=1)
    ]
    for i, pk in enumerate(pks, start=1):
        ad = Verdict("ad", "ad" if i == 3 else "normal", 0.9)
        useful = Verdict("useful", "useful" if i == 1 else "useless", 0.8)
        analysis.save_analysis(session, pk, [ad, useful])
    assert search.index_pending(session) == len(pks)
    return pks


def found(session: Session, query: str, filters: SearchFilters | None = None) -> list[int]:
    """The numbers (1..5) of the messages found, newest first."""
    result = search.search(session, query, filters or SearchFilters())
    assert result.total == len(result.hits)
    number = {body: n for n, (body, _, _) in enumerate(TEXTS, start=1)}
    return [number[h.text] for h in result.hits]


def test_terms_are_jiebas_search_cut_without_punctuation() -> None:
    terms = search.search_terms("我们用向量数据库，RAG_Demo！ＧＰＴ")
    assert {"向量", "数据库", "数据", "rag", "demo", "gpt"} <= set(terms)
    assert "，" not in terms and "！" not in terms and len(terms) == len(set(terms))
    assert search.search_terms("？！……") == []


def test_chinese_words_are_found_inside_sentences(session: Session) -> None:
    fill(session)
    assert found(session, "向量数据库") == [1]
    assert found(session, "数据库") == [1]
    assert found(session, "向量") == [4, 1]  # newest first
    assert found(session, "模型") == [2]
    assert found(session, "发票") == [3]
    assert found(session, "MILVUS") == [4]  # case folded
    assert found(session, "wx123456") == [3]
    assert found(session, "区块链") == []


def test_every_term_must_match(session: Session) -> None:
    fill(session)
    assert found(session, "向量 检索") == [4]
    assert found(session, "向量 推荐") == [1]
    assert found(session, "向量 天气") == []


def test_a_query_of_punctuation_finds_nothing_and_a_blank_one_lists(session: Session) -> None:
    fill(session)
    assert found(session, "？！") == []
    assert found(session, "") == [5, 4, 3, 2, 1]


def test_filters_narrow_the_search(session: Session) -> None:
    fill(session)
    assert found(session, "向量", SearchFilters(group_ids=(GROUP,))) == [1]
    assert found(session, "", SearchFilters(group_ids=(OTHER,))) == [5, 4]
    assert found(session, "", SearchFilters(group_ids=())) == []
    assert found(session, "", SearchFilters(member="wxid_bob")) == [4, 2]
    assert found(session, "", SearchFilters(member="alice")) == [5, 1]  # the name they sent under
    since, until = T0 + timedelta(minutes=2), T0 + timedelta(minutes=4)
    assert found(session, "", SearchFilters(since=since, until=until)) == [3, 2]
    assert found(session, "", SearchFilters(verdict="ad")) == [3]
    assert found(session, "", SearchFilters(verdict="useful")) == [1]
    assert found(session, "向量", SearchFilters(verdict="useless")) == [4]
    assert found(session, "", SearchFilters(verdict="normal", member="wxid_alice", group_ids=(OTHER,))) == [5]
    with pytest.raises(ValueError, match="verdict"):
        SearchFilters(verdict="spam")


def test_hits_carry_their_verdicts_and_pages(session: Session) -> None:
    fill(session)
    result = search.search(session, "", limit=2, offset=1)
    assert result.total == 5 and len(result.hits) == 2
    ad = search.search(session, "发票").hits[0]
    assert {(v.analyzer, v.label) for v in ad.verdicts} == {("ad", "ad"), ("useful", "useless")}
    assert ad.group_id == GROUP and ad.sender_id == "wxid_spam" and ad.sent_at == T0 + timedelta(minutes=3)
    assert search.search(session, "发票").terms == ("发票",)


def test_quotes_are_searched_and_the_bots_words_are_not(session: Session) -> None:
    quoted = make_msg(1, text="同意", quote="张三：知识图谱怎么建")
    pk, _ = messages.store_message(session, quoted)
    messages.store_messages(session, [make_msg(2, text="/help 知识图谱")], roles=[COMMAND])
    messages.store_messages(session, [make_msg(3, text="知识图谱的日报")], roles=["bot"])
    messages.store_message(session, make_msg(4, text=""))  # an image: nothing to cut
    assert search.index_pending(session) == 2
    assert found_pks(session, "知识图谱") == [pk + 1, pk]


def found_pks(session: Session, query: str) -> list[int]:
    return [h.pk for h in search.search(session, query).hits]


def test_indexing_is_lazy_bounded_and_idempotent(session: Session) -> None:
    for n in range(1, 8):
        messages.store_message(session, make_msg(n, text=f"第{n}条 知识图谱"))
    assert found_pks(session, "知识图谱") == []  # stored, not yet indexed
    assert search.index_pending(session, limit=3) == 3
    assert len(found_pks(session, "知识图谱")) == 3
    assert search.index_pending(session, limit=10) == 4
    assert search.index_pending(session, limit=10) == 0
    assert session.execute(select(func.count()).select_from(MESSAGE_SEARCH)).scalar_one() == 7
    assert len(found_pks(session, "知识图谱")) == 7


def test_a_message_stored_late_below_the_newest_indexed_is_still_indexed(session: Session) -> None:
    """On PostgreSQL a message can commit after a later one was indexed: pks below the newest
    indexed one are looked at again."""
    pks = [messages.store_message(session, make_msg(n, text=f"消息{n} 知识图谱"))[0] for n in (1, 2, 3)]
    session.execute(MESSAGE_SEARCH.insert().values(message_pk=pks[2], terms=search.message_terms("消息3 知识图谱", "")))
    assert search.index_pending(session) == 2
    assert sorted(found_pks(session, "知识图谱")) == pks


def test_purged_texts_cannot_be_found_and_are_never_indexed_again(session: Session) -> None:
    pks = fill(session)
    later = messages.store_message(session, make_msg(9, text="新的向量数据库", sent_at=T0 + timedelta(days=30)))[0]
    analysis.save_analysis(session, later, [Verdict("ad", "normal", 0.9)])
    search.index_pending(session)
    assert found_pks(session, "向量") == [later, pks[3], pks[0]]
    blanked, _ = purge.blank_text_before(session, T0 + timedelta(days=1), T0 + timedelta(days=31))
    assert blanked == 5
    assert found_pks(session, "向量") == [later]
    assert found_pks(session, "") == [later]  # a purged message is not listed either
    rows = session.execute(select(MESSAGE_SEARCH.c.message_pk)).scalars().all()
    assert rows == [later]
    assert search.index_pending(session) == 0
    assert found_pks(session, "向量") == [later]


def test_purged_words_leave_the_sqlite_index_pages(session: Session, engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("FTS5 is SQLite's")
    fill(session)
    session.commit()  # FTS5 writes its pages at commit
    pages = session.execute(text(f"SELECT block FROM {search.FTS_TABLE}_data")).scalars().all()
    assert [p for p in pages if b"wx123456" in p]
    purge.blank_text_before(session, T0 + timedelta(days=1), T0 + timedelta(days=2))
    session.commit()
    pages = session.execute(text(f"SELECT block FROM {search.FTS_TABLE}_data")).scalars().all()
    assert pages and not [p for p in pages if b"wx123456" in p or b"pgvector" in p]
    session.execute(text(f"INSERT INTO {search.FTS_TABLE}({search.FTS_TABLE}) VALUES ('integrity-check')"))


def test_a_deleted_message_takes_its_words_along(session: Session) -> None:
    pks = fill(session)
    session.execute(text("DELETE FROM messages WHERE pk = :pk"), {"pk": pks[0]})
    assert found_pks(session, "向量") == [pks[3]]
    assert search.index_pending(session) == 0
