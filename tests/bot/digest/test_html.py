"""What a new user saw in the HTML digest, fixed: the ads card says how many it leaves out, the
unanswered list holds questions only and in time order, the footer shows no internals, and the
charts read at phone width."""

import importlib
import re

import pytest

from bot.digest import build_digest, render_html, render_text
from bot.digest.charts import activity_png, topics_png
from bot.digest.data import HourCount, Topic
from nlp.patterns import extract_patterns
from tests.bot.digest.helpers import DAY, TZ, G, msg

# The picture's width on a 375 px phone: the page's padding (12 px each side), a card's (14 px)
# and its border (1 px) taken off. The chart is shown at 100% of that.
PHONE_PX = 375 - 2 * 12 - 2 * 14 - 2 * 1
MIN_LABEL_PX = 11  # smallest text people read comfortably on a phone

ADS = [
    "兼职刷单日赚500，加V：wx_abc123 详询",
    "代理微商招募，一件代发，宝妈学生都能做",
    "贷款秒批，无抵押无担保，凭身份证当天到账",
    "澳门国际娱乐城，真人在线，首充送百分百",
    "AI 副业训练营，零基础月入三万，名额有限",
    "云算力按小时租，低至一块二一卡时，注册就送",
    "股票内部群每天推荐三只牛股，稳赚不亏",
    "韩国进口补水面膜工厂直供，代理零门槛",
    "ChatGPT Plus 独享号低价代充，官方价三折",
    "打字员兼职，每天两小时，当天结算工资",
    "币圈老师带单，上周翻了三倍，私信上车",
    "出售各平台会员激活码，全网最低价批发",
]


def digest(messages, **kw):
    kw.setdefault("extract_times", extract_patterns)
    return build_digest(messages, group_id=G, group_name="AI 群", topic="人工智能", day=DAY, tz=TZ, **kw)


def section(html: str, name: str) -> str:
    return html.split(f'id="{name}"')[1].split("</section>")[0]


def text_of(d) -> str:
    return "\n".join(render_text(d, max_part_chars=100_000))


# --------------------------------------------------------------------------- ads: say how many more


def test_the_ads_card_says_how_many_it_does_not_list():
    ms = [msg(f"s{i}", f"{8 + i}:{10 + i}", text, ad=True) for i, text in enumerate(ADS)]
    d = digest(ms)
    assert d.counts.ads == 12 and len(d.ads) == 10 and all(a.count == 1 for a in d.ads)
    card = section(render_html(d), "ads")
    assert card.count("<li>") == 10 and "12 条" in card and "…另有 2 条" in card
    text = text_of(d)
    assert "🚫 拦截广告 12 条，例：" in text and "…另有 10 条" in text  # the text lists two


def test_near_duplicate_ads_count_as_listed_and_all_listed_says_nothing_more():
    ms = [
        msg("s1", "09:00", ADS[0], ad=True),
        msg("s2", "09:30", ADS[0], ad=True),  # the same ad again: one line "×2"
        msg("s3", "10:00", ADS[1], ad=True),
    ]
    d = digest(ms)
    assert d.counts.ads == 3 and [a.count for a in d.ads] == [2, 1]
    assert "另有" not in section(render_html(d), "ads") and "另有" not in text_of(d)


def test_an_opted_out_members_ad_is_counted_among_the_ones_not_listed():
    ms = [msg("s1", "09:00", ADS[0], ad=True), msg("hidden", "10:00", ADS[1], ad=True)]
    d = digest(ms, opted_out={"hidden"})
    card = section(render_html(d), "ads")
    assert d.counts.ads == 2 and card.count("<li>") == 1 and "…另有 1 条" in card


# --------------------------------------------------------------------------- unanswered: questions, by time


def test_unanswered_holds_questions_only_and_in_time_order():
    ms = [
        # a remark the intent model read as a question: no question mark, no cue ("怎么可能" is not one)
        msg("w", "15:13", "官方 3 折 怎么可能 都是黑卡盗刷的，大家小心别上当", intent="question", useful=0.99),
        msg(
            "z",
            "22:10",
            "还有个怪问题：vLLM 开了 prefix caching 之后输出偶尔重复上一轮，有人遇到过吗",
            intent="question",
            useful=0.9,
        ),
        msg("l", "21:35", "听说明晚有个国产模型发布会，有人知道是哪家吗", intent="question", useful=0.6),
        msg(
            "a",
            "10:35",
            "有人在昇腾 910B 上用 MindIE 跑过 Qwen2.5-72B 吗？8 卡吞吐能到多少",
            intent="question",
            useful=0.95,
        ),
    ]
    d = digest(ms)
    assert len(d.unanswered) == 3 and "黑卡" not in "".join(q.text for q in d.unanswered)
    html = section(render_html(d), "unanswered")
    assert re.findall(r'<span class="time">(\d\d:\d\d)</span>', html) == ["10:35", "21:35", "22:10"]
    text = text_of(d).split("🙋 待解答")[1].split("\n\n")[0]
    assert [line.split("：")[0] for line in text.strip().splitlines()] == ["· A", "· L", "· Z"]
    assert "黑卡" not in render_html(d).split('id="unanswered"')[1].split("</section>")[0]


# --------------------------------------------------------------------------- the footer: no internals


def test_the_footer_shows_no_internals():
    ms = [msg("a", "09:00", "vLLM 部署在 H100 上显存怎么算？", useful=0.9, intent="question")]
    d = digest(ms)
    html = render_html(d)
    footer = html.split("<footer>")[1].split("</footer>")[0]
    assert footer == "群智日报"
    assert d.similarity and d.similarity not in html
    for internal in ("cos", "jaccard", "encoder", "layer", "3-gram", "相似消息判定"):
        assert internal not in html.lower().split("</style>")[1], internal


# --------------------------------------------------------------------------- charts at phone width


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the chart functions draw (the PNG is still made)."""
    drawn = []
    chart_module = importlib.import_module("bot.digest.charts")  # bot.digest.charts is also a function
    make_png = chart_module._png

    def keep(fig):
        drawn.append(fig)
        return make_png(fig)

    monkeypatch.setattr(chart_module, "_png", keep)
    return drawn


def shown_px(fig, text) -> float:
    """How tall a label is on the phone, in CSS px: the picture is shown PHONE_PX wide."""
    return text.get_fontsize() / 72 * PHONE_PX / fig.get_figwidth()


def visible_texts(fig):
    ax = fig.axes[0]
    labels = [t for axis in (ax.xaxis, ax.yaxis) if axis.get_visible() for t in axis.get_ticklabels()]
    return [t for t in [*labels, *ax.texts] if t.get_visible() and t.get_text()]


def apart(boxes, axis: str) -> bool:
    """No two boxes overlap along ``axis`` ("x" or "y")."""
    lo, hi = ("x0", "x1") if axis == "x" else ("y0", "y1")
    spans = sorted((getattr(b, lo), getattr(b, hi)) for b in boxes)
    return all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_the_activity_chart_reads_at_phone_width(figures):
    activity_png([HourCount(h, h % 5, 20 + h % 7, h % 2) for h in range(24)])
    (fig,) = figures
    texts = visible_texts(fig)
    assert texts and min(shown_px(fig, t) for t in texts) >= MIN_LABEL_PX
    hours = [t for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert 4 <= len(hours) <= 8  # a few hour marks, not one per bar
    renderer = fig.canvas.get_renderer()
    assert apart([t.get_window_extent(renderer) for t in hours], "x")


def test_the_topic_bars_read_at_phone_width(figures):
    topics = [Topic(k, n) for k, n in (("LLM", 16), ("vLLM", 8), ("Qwen2", 6), ("AWQ", 6), ("DeepSeek", 5), ("RAG", 3))]
    _, _ = topics_png(topics)
    (fig,) = figures
    texts = visible_texts(fig)
    assert len(texts) == 2 * len(topics)  # a name and a count per bar
    assert min(shown_px(fig, t) for t in texts) >= MIN_LABEL_PX
    renderer = fig.canvas.get_renderer()
    assert apart([t.get_window_extent(renderer) for t in fig.axes[0].get_yticklabels()], "y")


def test_the_page_shows_charts_full_width_on_a_phone():
    ms = [msg("a", "09:00", "vLLM 部署在 H100 上显存怎么算？", useful=0.9, intent="question")]
    css = render_html(digest(ms)).split("</style>")[0]
    rule = re.search(r"\.chart \{([^}]*)\}", css).group(1)
    assert "width: 100%" in rule and "max-width" in rule
