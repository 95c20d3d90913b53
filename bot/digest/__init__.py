"""The daily digest: one group's day of analysed messages into :class:`DigestData`, rendered as
WeChat text parts or one standalone HTML page. Same data, two templates.

- ``data``: the frozen records both templates read.
- ``build``: ``build_digest`` — counts, and the parts below, ranked by usefulness.
- ``threads``: questions with their answers, links with their discussion.
- ``dedupe``: near-duplicate messages (shared-encoder embeddings, else character 3-grams).
- ``events``: events and deadlines from TIME entities.
- ``topics``: topic keywords (jieba TF-IDF).
- ``clusters``: topic clusters (average linkage over the encoder's embeddings, else content words).
- ``charts``: activity-by-hour and topic bars as PNG (matplotlib, imported on first use).
- ``render``: Jinja2 templates (``StrictUndefined``, masking ``finalize``) and WeChat-sized parts.

``bot.daily.make_digest`` wires the store, the config and the encoder into ``build_digest``.
"""

from bot.digest.build import (
    KIND_LABELS,
    Period,
    build_digest,
    day_bounds,
    hours_period,
    month_period,
    range_period,
    trends,
    week_period,
)
from bot.digest.data import (
    AdLine,
    Contributor,
    DigestCounts,
    DigestData,
    Event,
    HourCount,
    KindCount,
    LinkLine,
    MessageLine,
    PeriodCounts,
    Thread,
    Topic,
    TrendLine,
    Trends,
)
from bot.digest.render import TEMPLATES_DIR, Charts, charts, render_html, render_text, split_parts

__all__ = [
    "KIND_LABELS",
    "TEMPLATES_DIR",
    "AdLine",
    "Charts",
    "Contributor",
    "DigestCounts",
    "DigestData",
    "Event",
    "HourCount",
    "KindCount",
    "LinkLine",
    "MessageLine",
    "PeriodCounts",
    "Period",
    "Thread",
    "Topic",
    "TrendLine",
    "Trends",
    "build_digest",
    "charts",
    "day_bounds",
    "hours_period",
    "month_period",
    "range_period",
    "trends",
    "render_html",
    "render_text",
    "split_parts",
    "week_period",
]
