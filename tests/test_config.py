"""Settings: every one documented in config.example.toml, and bad values stop start-up."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from reminder import config, create_app

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def flat_example() -> dict:
    return config._flatten(tomllib.loads(EXAMPLE.read_text()))


def test_every_setting_is_in_config_example_with_its_default():
    example = flat_example()
    missing = [s.key for s in config.SETTINGS if s.key not in example]
    assert not missing, f"add to config.example.toml: {missing}"
    for setting in config.SETTINGS:
        assert example[setting.key] == setting.default, setting.key


def test_config_example_has_no_setting_the_app_does_not_know():
    assert set(flat_example()) <= set(config.BY_KEY)


def test_no_file_means_the_defaults(monkeypatch):
    monkeypatch.delenv("REMINDER_CONFIG", raising=False)
    monkeypatch.delenv("REMINDER_SECRET_KEY", raising=False)
    values = config.load()
    assert values["database.path"] == "reminder.db"
    assert values["notify.mode"] == "outbox" and values["clock.mode"] == "system"


@pytest.mark.parametrize(
    "text, key",
    [
        ('[worker]\ntick_seconds = "soon"\n', "worker.tick_seconds"),
        ("[worker]\ntick_seconds = 0\n", "worker.tick_seconds"),
        ("[worker]\nhorizon_hours = 24\n", "worker.horizon_hours"),
        ('[clock]\nmode = "sundial"\n', "clock.mode"),
        ('[server]\nbase_url = "example.com/"\n', "server.base_url"),
        ('[notify]\nmode = "pigeon"\n', "notify.mode"),
        ('[notify]\nmode = "live"\n', "notify.mode"),
        ('[sms]\naccount_sid = "AC1"\n', "sms.auth_token"),
        ('[sms]\naccount_sid = "AC1"\nauth_token = "t"\n', "sms.from_number"),
        ("[sms]\nmax_per_second = -1\n", "sms.max_per_second"),
        ('[email]\nsecurity = "tls"\n', "email.security"),
        ('[server]\ndev_mode = "yes"\n', "server.dev_mode"),
        ("[server]\nportt = 80\n", "server.portt"),
    ],
)
def test_a_bad_value_stops_start_up_with_a_message_naming_the_key(tmp_path, text, key):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")):
        create_app(str(path))


def test_an_unreadable_file_is_reported(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[worker\n")
    with pytest.raises(config.ConfigError, match="cannot read config file"):
        config.load(str(path))


def test_the_environment_overrides_secrets(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text('[server]\nsecret_key = "from-file"\n')
    monkeypatch.setenv("REMINDER_SECRET_KEY", "from-env")
    assert config.load(str(path))["server.secret_key"] == "from-env"
    monkeypatch.setenv("REMINDER_CONFIG", str(path))
    assert config.load()["server.secret_key"] == "from-env"


def test_dev_mode_is_refused_with_live_sending(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[notify]\nmode = "live"\n[email]\nhost = "smtp.example.org"\n'
        '[server]\ndev_mode = true\nbase_url = "https://reminder.example.org"\n'
    )
    with pytest.raises(config.ConfigError, match="server.dev_mode"):
        config.load(str(path))


def test_live_sending_needs_a_public_base_url(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[notify]\nmode = "live"\n[email]\nhost = "smtp.example.org"\n')
    with pytest.raises(config.ConfigError, match="server.base_url"):
        config.load(str(path))
