"""A deterministic month of an AI developers' group, with the truth about every message.

Eight members over 30 days (Asia/Shanghai): an asker and a lead who ask questions, a helper who
answers by @-mentioning the asker, a quoter who answers by replying to the question, a link sharer,
a chatter, a teacher who says so, and a spammer who joins on day 20 and posts ads in their first
hours. ``Row.role`` is what the message is by construction (question, answer, link, ad, chat); the
profile test counts from these, never from the bot's verdicts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.message import GroupMessage, MessageKind

TZ = ZoneInfo("Asia/Shanghai")
GROUP = "month@chatroom"
OTHER_GROUP = "other@chatroom"
START = datetime(2026, 3, 1, tzinfo=TZ)
DAYS = 30

NAMES = {
    "wxid_asker": "阿杰",
    "wxid_lead": "老王",
    "wxid_helper": "小李",
    "wxid_quoter": "Momo",
    "wxid_linker": "链接哥",
    "wxid_chat": "闲聊",
    "wxid_teacher": "张老师",
    "wxid_spam": "招财",
}
QUESTIONS = [
    "请问 LoRA 微调一般要多大显存？",
    "vLLM 部署的时候怎么开量化？",
    "有人用过 Qdrant 吗？效果怎么样？",
    "RAG 的切块大小一般设多少？",
    "Embedding 模型选哪个比较好？",
    "多卡训练老是卡住是什么原因？",
]
LEAD_QUESTIONS = ["你们的 GPU 云服务器多少钱一个月？", "算力租赁怎么收费？", "API 调用有免费额度吗？"]
ANSWERS = ["用 4bit 量化的话 24G 显存就够了", "建议先把 chunk 设成 512，再看召回效果", "试试 bge-m3，中文效果不错"]
LINKS = [
    "这篇讲 RAG 评测的文章不错 https://arxiv.org/abs/2401.00001",
    "官方文档在这 https://docs.vllm.ai/en/latest/",
    "推荐这个仓库 https://github.com/hiyouga/LLaMA-Factory",
    "新出的榜单 https://huggingface.co/spaces/open-llm-leaderboard",
]
ADS = [
    "兼职刷单日赚300，加V：wx_abc123 秒结",
    "低价出售 GPT 账号，加微信 vx_shop888 咨询",
    "宝妈在家轻松日入500，加V信 abc_2024",
]
CHAT = ["早上好", "哈哈哈", "今天好冷", "下班了下班了", "周末愉快", "吃饭去了", "收到", "辛苦了", "晚安"]
LEAD_KEYWORDS = ("GPU", "算力", "API")


@dataclass(frozen=True)
class Row:
    message: GroupMessage
    role: str  # question | answer | link | ad | chat


def month(seed: int = 7) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    n = 0

    def add(sender: str, at: datetime, text: str, role: str, *, group: str = GROUP, **extra: object) -> GroupMessage:
        nonlocal n
        n += 1
        m = GroupMessage(
            id=f"mo{n:04d}",
            source="replay",
            group_id=group,
            sender_id=sender,
            sender_name=NAMES[sender],
            sent_at=at,
            kind=MessageKind.TEXT,
            text=text,
            group_topic="AI 开发者",
            **extra,  # type: ignore[arg-type]
        )
        rows.append(Row(m, role))
        return m

    def at(day: int, hour: int, minute: int) -> datetime:
        return START + timedelta(days=day, hours=hour, minutes=minute)

    for day in range(DAYS):
        for sender in ("wxid_chat", "wxid_teacher", "wxid_helper", "wxid_linker", "wxid_quoter"):
            for _ in range(rng.randint(0, 3)):
                add(sender, at(day, rng.randint(8, 23), rng.randint(0, 59)), rng.choice(CHAT), "chat")
        if day == 3:
            add("wxid_teacher", at(day, 20, 5), "我是一名老师，平时用 AI 备课", "chat")
        if rng.random() < 0.6:
            add("wxid_linker", at(day, rng.randint(9, 22), rng.randint(0, 59)), rng.choice(LINKS), "link")
        for _ in range(rng.randint(0, 2)):
            asker = "wxid_asker" if rng.random() < 0.75 else "wxid_lead"
            asked_at = at(day, rng.randint(8, 21), rng.randint(0, 59))
            text = rng.choice(LEAD_QUESTIONS if asker == "wxid_lead" else QUESTIONS)
            q = add(asker, asked_at, text, "question")
            style = rng.random()
            if style < 0.45:  # an answer by mention, within the window
                add(
                    "wxid_helper",
                    asked_at + timedelta(minutes=rng.randint(2, 150)),
                    f"@{NAMES[asker]} {rng.choice(ANSWERS)}",
                    "answer",
                    mentions=(asker,),
                )
            elif style < 0.75:  # an answer by reply, maybe much later
                add(
                    "wxid_quoter",
                    asked_at + timedelta(minutes=rng.randint(5, 900)),
                    rng.choice(ANSWERS),
                    "answer",
                    reply_to=q.id,
                )
        if day == 19:  # the spammer joins and bursts
            for minute in (0, 20, 45):
                add("wxid_spam", at(day, 10, minute), rng.choice(ADS), "ad")
            add("wxid_spam", at(day, 11, 10), "大家好", "chat")
            add("wxid_spam", at(day, 23, 30), "晚安", "chat")
        if day == 22:
            add("wxid_spam", at(day, 9, 0), rng.choice(ADS), "ad")
        if day in (5, 12):  # the lead is in a second group too
            add("wxid_lead", at(day, 12, 0), "GPU 算力怎么收费？", "question", group=OTHER_GROUP)
            add("wxid_lead", at(day, 12, 30), "收到", "chat", group=OTHER_GROUP)
    rows.sort(key=lambda r: (r.message.sent_at, r.message.id))
    return rows
