"""Test doubles and harnesses shared by tests/ and benchmarks/; not part of the running bot.

They need the dev dependencies (e.g. aiohttp, `uv sync`), and the production wheel leaves this
package out (pyproject.toml, `[tool.hatch.build.targets.wheel] exclude`).
"""
