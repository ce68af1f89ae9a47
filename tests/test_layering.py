"""The retrieval library stands alone: importing and using it loads no Telegram code."""

import os
import subprocess
import sys

import pytest

from bot.testing.processes import ROOT

pytestmark = pytest.mark.slow  # starts pasokh or Python processes


def test_retrieval_never_imports_telegram() -> None:
    code = (
        "import sys, retrieval, retrieval.answer, retrieval.store\n"
        "from pathlib import Path\n"
        "index = retrieval.build_index(retrieval.load_seeds(Path('seeds')))\n"
        "retrieval.answer.answer(index, 'فرمانده انتظامی لرستان کیست؟')\n"
        "loaded = sorted(m for m in sys.modules if m == 'telegram' or m.startswith('telegram.'))\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


def test_one_index_never_imports_ray() -> None:
    """Ray is an optional extra (pasokh[cluster]): asking from the seeds or a sharded build in this process,
    and the bot's modules, load none of it."""
    code = (
        "import sys, tempfile\n"
        "from pathlib import Path\n"
        "from bot.cli import main\n"
        "import bot.serving.run, bot.serving.metrics, bot.serving.web\n"
        "main(['ask', 'فرمانده انتظامی لرستان کیست؟'])\n"
        "out = Path(tempfile.mkdtemp()) / 'shards'\n"
        "main(['index', 'build', '--shards', '2', '--out', str(out)])\n"
        "main(['ask', '--index', str(out), 'فرمانده انتظامی لرستان کیست؟'])\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PASOKH_RAY_ADDRESS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True, env=env)
    assert result.stdout.strip().splitlines()[-1] == "[]"
