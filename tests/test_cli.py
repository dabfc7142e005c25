"""The `reminder` command as an operator uses it, including `run` and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest
from click.testing import CliRunner

from reminder.cli import main


@pytest.fixture
def config_file(tmp_path):
    def write(mode="manual", port=8000):
        path = tmp_path / "config.toml"
        path.write_text(
            f'[database]\npath = "{tmp_path / "cli.db"}"\n[clock]\nmode = "{mode}"\n'
            f'[server]\nport = {port}\nbase_url = "http://127.0.0.1:{port}"\n[worker]\ntick_seconds = 1\n'
        )
        return str(path)

    return write


def cli(config_path, *args):
    result = CliRunner().invoke(main, ["--config", config_path, *args], catch_exceptions=False)
    return result


def test_the_demo_shows_a_reminder_within_the_first_minute_and_lists_messages_as_json(config_file):
    path = config_file()
    assert cli(path, "db", "upgrade").exit_code == 0
    assert cli(path, "clock", "set", "2026-03-07T12:00:00Z").exit_code == 0
    demo = cli(path, "demo")
    assert demo.exit_code == 0 and "patient@example.com" in demo.output and "caregiver@example.com" in demo.output
    assert "clinician@example.com" in demo.output and "America/New_York" in demo.output
    assert cli(path, "tick", "--until", "2026-03-07T12:01:00Z", "--step", "30").exit_code == 0
    rows = json.loads(cli(path, "messages", "--json").output)
    assert [r["kind"] for r in rows] == ["reminder"]
    for key in (
        "id",
        "channel",
        "recipient",
        "kind",
        "dose_id",
        "body",
        "status",
        "provider_id",
        "created_at",
        "sent_at",
    ):
        assert key in rows[0]
    assert rows[0]["status"] == "sent" and rows[0]["channel"] == "outbox"
    assert cli(path, "demo", "--if-empty").exit_code == 0  # a second `make run` leaves it alone


def test_tick_until_over_two_days_reports_its_progress(config_file):
    path = config_file()
    cli(path, "db", "upgrade")
    cli(path, "clock", "set", "2026-03-07T12:00:00Z")
    cli(path, "demo")
    result = CliRunner().invoke(main, ["--config", path, "tick", "--until", "2026-03-09T12:00:00Z"])
    assert result.exit_code == 0
    assert "2880/2880 ticks" not in result.output and "500/2880 ticks" in result.output
    assert "ticked 2880 times" in result.output
    kinds = [r["kind"] for r in json.loads(cli(path, "messages", "--json").output)]
    assert kinds.count("reminder") == 7 and kinds.count("skip_notice") == 6


def test_token_create_prints_the_token_last_and_user_add_checks_input(config_file, tmp_path):
    path = config_file()
    cli(path, "db", "upgrade")
    cli(path, "clock", "set", "2026-03-07T12:00:00Z")
    added = cli(path, "user", "add", "--email", "c@example.com", "--password", "long enough", "--role", "clinician")
    assert added.exit_code == 0 and "clinician" in added.output
    token = cli(path, "token", "create", "--email", "c@example.com").output.strip().splitlines()[-1]
    assert token.startswith("rmd_")
    bad = cli(path, "user", "add", "--email", "nope", "--password", "long enough")
    assert bad.exit_code != 0 and "valid email" in bad.output
    bad_tz = cli(path, "user", "add", "--email", "d@example.com", "--password", "long enough", "--tz", "Nowhere")
    assert bad_tz.exit_code != 0 and "unknown time zone" in bad_tz.output


def test_commands_explain_a_missing_migration_and_a_system_clock(config_file):
    path = config_file(mode="system")
    result = cli(path, "tick")
    assert result.exit_code != 0 and "reminder db upgrade" in result.output
    cli(path, "db", "upgrade")
    result = cli(path, "clock", "set", "2026-03-07T12:00:00Z")
    assert result.exit_code != 0 and 'mode = "manual"' in result.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_run_serves_the_app_with_a_ticking_worker_and_ctrl_c_stops_both(config_file):
    port = free_port()
    path = config_file(mode="system", port=port)
    cli(path, "db", "upgrade")
    process = subprocess.Popen(
        [sys.executable, "-m", "reminder.cli", "--config", path, "run", "--dev"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        health = None
        # Up to 30 s for both processes to start and the worker to tick once (a 503 until then):
        # on a loaded machine the interpreter, the app and the drug-name tables take a while.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = json.load(response)
                    break
            except OSError:
                time.sleep(0.1)
        assert health is not None and health["status"] == "ok"
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output
    assert b"web app and worker stopped" in output
    assert b"Traceback" not in output
    children = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True)
    assert children.stdout == b""


def test_the_demo_caregiver_hears_when_the_demo_patient_misses_two_baclofen_doses(config_file):
    path = config_file()
    cli(path, "db", "upgrade")
    cli(path, "clock", "set", "2026-03-07T12:00:00Z")
    cli(path, "demo")
    assert cli(path, "tick", "--until", "2026-03-08T12:00:00Z", "--step", "300").exit_code == 0
    rows = json.loads(cli(path, "messages", "--json").output)
    alerts = [r for r in rows if r["kind"] == "alert" and r["recipient"] == "caregiver@example.com"]
    assert alerts and "missed 2 doses in a row of Baclofen" in alerts[0]["body"]


def test_expected_conditions_print_one_line_and_exit_with_status_2(config_file, tmp_path):
    missing = CliRunner().invoke(main, ["--config", str(tmp_path / "nowhere.toml"), "tick"])
    assert missing.exit_code == 2 and "cannot read config file" in missing.output
    path = config_file()
    cli(path, "db", "upgrade")
    unset = CliRunner().invoke(main, ["--config", path, "tick"])
    assert unset.exit_code == 2 and "reminder clock set" in unset.output
    for result in (missing, unset):
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_a_backup_restores_through_the_cli_and_a_file_that_is_not_one_is_refused(config_file, tmp_path):
    path = config_file()
    cli(path, "db", "upgrade")
    cli(path, "clock", "set", "2026-03-07T12:00:00Z")
    cli(path, "user", "add", "--email", "kept@example.com", "--password", "correct-horse")
    assert cli(path, "db", "backup", str(tmp_path / "b.db")).exit_code == 0
    cli(path, "user", "add", "--email", "later@example.com", "--password", "correct-horse")
    assert cli(path, "db", "restore", str(tmp_path / "b.db")).exit_code == 2  # no --yes
    restored = cli(path, "db", "restore", str(tmp_path / "b.db"), "--yes")
    assert restored.exit_code == 0, restored.output
    emails = [row[0] for row in sqlite3.connect(tmp_path / "cli.db").execute("SELECT email FROM users")]
    assert emails == ["kept@example.com"]
    (tmp_path / "junk.db").write_text("not a database at all" * 100)
    junk = cli(path, "db", "restore", str(tmp_path / "junk.db"), "--yes")
    assert junk.exit_code == 2 and "not a SQLite database" in junk.output


def test_serve_puts_the_port_it_listens_on_in_message_links_when_base_url_is_not_set(tmp_path, monkeypatch):
    from reminder import server

    config_path = tmp_path / "config.toml"
    config_path.write_text(f'[database]\npath = "{tmp_path / "cli.db"}"\n')
    cli(str(config_path), "db", "upgrade")
    served = {}
    monkeypatch.setattr(server, "serve_production", lambda app, *args: served.update(app.config["REMINDER"]))
    assert cli(str(config_path), "serve", "--port", "8123").exit_code == 0
    assert served["server.base_url"] == "http://127.0.0.1:8123"


def test_sigterm_to_run_stops_the_production_server_and_the_worker(config_file):
    port = free_port()
    path = config_file(mode="system", port=port)
    cli(path, "db", "upgrade")
    process = subprocess.Popen(
        [sys.executable, "-m", "reminder.cli", "--config", path, "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        health = None
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health, server_header = json.load(response), response.headers.get("Server", "")
                    break
            except OSError:
                time.sleep(0.1)
        assert health is not None and health["status"] == "ok"
        assert not any(char.isdigit() for char in server_header)  # no version banner
        process.send_signal(signal.SIGTERM)  # what a service manager sends, to the main process only
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert b"web app and worker stopped" in output, output
    assert b"Traceback" not in output
    children = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True)
    assert children.stdout == b""
