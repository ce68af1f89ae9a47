"""Settings from the environment: one reading each, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import BUNDLED_SEEDS, DEFAULT_API_BASE_URL, Settings, SettingsError, default_seeds_dir


@pytest.mark.parametrize("value", ["12,abc", "1;2", "²", "12,³", "-5", "0", "١٢"])
def test_bad_admin_ids_are_a_clear_error(value: str) -> None:
    with pytest.raises(SettingsError, match="PASOKH_ADMIN_IDS"):
        Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "PASOKH_ADMIN_IDS": value})


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "TELEGRAM_BOT_TOKEN": "123:secret",
            "PASOKH_ADMIN_IDS": " 1, 22 ,333",
            "PASOKH_SEEDS_DIR": "/srv/seeds",
            "TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot",
        }
    )
    assert settings.admin_ids == frozenset({1, 22, 333})
    assert settings.seeds_dir == Path("/srv/seeds")
    assert settings.index_dir is None
    assert settings.api_base_url == "http://127.0.0.1:8081/bot"
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("", DEFAULT_API_BASE_URL),
        ("https://api.telegram.org/bot", "https://api.telegram.org/bot"),
        ("https://api.telegram.org", "https://api.telegram.org/bot"),  # without /bot: it is added
        ("https://api.telegram.org/", "https://api.telegram.org/bot"),
        ("http://127.0.0.1:8081/bot/", "http://127.0.0.1:8081/bot"),  # PTB would glue the token after "/"
        ("http://tg.example.org/proxy", "http://tg.example.org/proxy/bot"),
    ],
)
def test_the_bot_api_base_url_takes_both_forms(given: str, used: str) -> None:
    settings = Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_API_BASE_URL": given})
    assert settings.api_base_url == used


@pytest.mark.parametrize("given", ["api.telegram.org/bot", "ftp://x/bot", "https:///bot", "https://x/bot?a=1"])
def test_an_unusable_bot_api_base_url_is_one_line(given: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", "TELEGRAM_API_BASE_URL": given})
    assert "TELEGRAM_API_BASE_URL" in str(raised.value) and "\n" not in str(raised.value)


def test_the_seeds_folder_is_read_one_way_for_the_bot_and_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_seeds_dir({}) == BUNDLED_SEEDS  # no ./seeds here: the bundled articles
    assert Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x"}).seeds_dir == BUNDLED_SEEDS
    (tmp_path / "seeds").mkdir()
    assert default_seeds_dir({}) == Path("seeds")
    assert default_seeds_dir({"PASOKH_SEEDS_DIR": " /srv/news "}) == Path("/srv/news")


@pytest.mark.parametrize("name", ["PASOKH_QUESTIONS_PER_MINUTE", "PASOKH_MESSAGES_PER_SECOND"])
@pytest.mark.parametrize("value", ["²", "-3", "0", "1.5", "ten", "99999999999999999999999"])
def test_bad_limits_are_a_clear_error(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name) as raised:
        Settings.from_env({"TELEGRAM_BOT_TOKEN": "1:x", name: value})
    assert "\n" not in str(raised.value)
