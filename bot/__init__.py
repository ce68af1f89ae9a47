"""Pasokh's front ends over ``retrieval``: the ``pasokh`` command and the Telegram bot.

==============================  =====================================================================
module                          what it owns
==============================  =====================================================================
``cli``                         the ``pasokh`` entry point: parses the command line, runs a command
``terminal``                    ``pasokh ask``, ``chat``, ``index build`` and ``index stats`` (no
                                Telegram)
``settings``                    every setting, read once from the environment
``library``                     the index being served: rebuilding it from the seeds (``/reload``),
                                publishing or removing one article (a delta beside the main index)
``publishing``                  article ids and seed file names we make, channel posts as seed files
``feeds``                       RSS and Atom feeds polled in the background; new items become articles
``sending``                     Bot API calls resent only when Telegram surely did not act on them
``conversation/``               the Telegram conversation: ``handlers`` (private chats, groups,
                                inline, buttons, admins), ``editors`` (``/add``, uploads,
                                ``/remove``, channel posts), ``render`` (HTML, pages, keyboards),
                                ``replies`` (sending from handlers), ``texts`` (what the bot says)
``serving/``                    running the process: ``run`` (``pasokh run``), ``application``
                                (handlers, start-up), ``lifecycle`` (polling or webhook, until a
                                signal), ``updates`` (per-chat order), ``web`` (webhook, ``/healthz``,
                                ``/metrics``), ``metrics``, ``logs`` (secrets redacted)
``backend/``                    records, flood limits and reloads behind small interfaces:
                                ``local`` for one process (SQLite, memory), ``shared/`` for several
                                workers sharing Redis; ``open_backend`` picks one
``testing/``                    the Bot API stand-in and harnesses for tests and benchmarks (dev only)
==============================  =====================================================================

Layers: ``conversation`` uses ``backend`` through its interfaces only; ``retrieval`` never imports
anything from here, nor Telegram.
"""
