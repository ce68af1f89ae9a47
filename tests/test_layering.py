"""The retrieval library stands alone: importing and using it loads no Telegram code."""

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
