"""The operator's console (``qunzhi web``): server-rendered pages, the HTTP API under ``/api/v1``,
``/metrics`` and ``/healthz``, on the same database as ``qunzhi run``.

Each page is a module with one ``router``: :mod:`~bot.web.overview`, :mod:`~bot.web.groups`,
:mod:`~bot.web.moderation` (the log and undo), :mod:`~bot.web.review` (the review queue),
:mod:`~bot.web.members` (members, leads, profiles), :mod:`~bot.web.search`, :mod:`~bot.web.checker`,
and :mod:`~bot.web.api`. :mod:`~bot.web.auth` is who is asking (sessions, tokens, CSRF, the
groups a user may see); :mod:`~bot.web.render` the templates; :mod:`~bot.web.app` puts them together.
"""
