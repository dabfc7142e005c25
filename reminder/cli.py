"""The ``reminder`` command: database, web server, worker, clock, messages, users, demo."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
from datetime import timedelta

import click

from . import accounts, config, db, ingredients, messages, worker
from . import demo as demo_module
from .clock import ManualClock, make_clock
from .errors import InputError
from .notify import make_transport
from .times import parse_instant, to_iso


class Context:
    def __init__(self, config_path: str | None, overrides: dict | None = None):
        self.config_path = config_path
        try:
            self.settings = config.load(config_path, overrides)
        except config.ConfigError as error:
            raise click.ClickException(str(error)) from None

    def connect(self):
        return db.connect(self.settings["database.path"])

    def clock(self):
        return make_clock(self.settings["clock.mode"], self.connect)


@click.group()
@click.option("--config", "config_path", envvar="REMINDER_CONFIG", help="TOML config file (default: $REMINDER_CONFIG).")
@click.pass_context
def main(ctx, config_path):
    """Medication reminders with the missed-dose rule built in."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    ctx.obj = Context(config_path)


@main.group("db")
def db_group():
    """The database schema."""


@db_group.command("upgrade")
@click.pass_obj
def db_upgrade(obj: Context):
    """Apply pending migrations."""
    database = obj.connect()
    applied = db.upgrade(database)
    click.echo(f"applied: {', '.join(applied)}" if applied else "database is up to date")


@main.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--dev", is_flag=True, help="Turn on /dev/outbox.")
@click.pass_obj
def serve(obj: Context, host, port, dev):
    """Serve the web app (no worker)."""
    _serve(obj, host, port, dev)


@main.command("worker")
@click.pass_obj
def worker_command(obj: Context):
    """Run the worker: a tick every worker.tick_seconds until Ctrl-C or SIGTERM."""
    _check_schema(obj)
    ingredients.warm()  # before the first tick, which may name a drug in an alert
    worker.run_forever(obj.connect, obj.clock(), obj.settings, make_transport(obj.settings))


@main.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.option("--dev", is_flag=True, help="Turn on /dev/outbox.")
@click.pass_obj
def run(obj: Context, host, port, dev):
    """The web app and the worker together; Ctrl-C stops both."""
    _check_schema(obj)
    args = [sys.executable, "-m", "reminder.cli"] + (["--config", obj.config_path] if obj.config_path else [])
    child = subprocess.Popen(args + ["worker"])
    try:
        _serve(obj, host, port, dev)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        child.wait(timeout=60)
        click.echo("web app and worker stopped")


@main.command()
@click.option("--until", "until", default=None, help="Advance the manual clock to this instant, ticking at each step.")
@click.option("--step", default=60, show_default=True, help="Seconds between ticks with --until.")
@click.pass_obj
def tick(obj: Context, until, step):
    """Run one tick now, or tick the manual clock forward to --until."""
    _check_schema(obj)
    clock, transport, database = obj.clock(), make_transport(obj.settings), obj.connect()
    if until is None:
        click.echo(json.dumps(worker.run_tick(database, clock.now(), obj.settings, transport)))
        return
    if not isinstance(clock, ManualClock):
        raise click.ClickException('tick --until moves the manual clock: set [clock] mode = "manual" in the config.')
    end = _instant(until)
    current, started, totals, count = clock.now(), clock.now(), {}, 0
    if step <= 0 or end <= current:
        raise click.ClickException(f"--until must be after the clock ({to_iso(current)}) and --step positive")
    total_steps = int((end - current).total_seconds() // step) or 1
    while current < end:
        current = min(current + timedelta(seconds=step), end)
        clock.set(current)
        for key, value in worker.run_tick(database, current, obj.settings, transport).items():
            totals[key] = totals.get(key, 0) + value
        count += 1
        if count % 500 == 0:
            click.echo(f"  {to_iso(current)}: {count}/{total_steps} ticks", err=True)
    click.echo(f"ticked {count} times from {to_iso(started)} to {to_iso(current)}: {json.dumps(totals)}")


@main.group("clock")
def clock_group():
    """The manual clock."""


@clock_group.command("set")
@click.argument("instant")
@click.pass_obj
def clock_set(obj: Context, instant):
    """Set the manual clock, e.g. 2026-03-07T12:00:00Z."""
    clock = obj.clock()
    if not isinstance(clock, ManualClock):
        raise click.ClickException('the clock is the system clock: set [clock] mode = "manual" in the config.')
    clock.set(_instant(instant))
    click.echo(f"clock set to {to_iso(clock.now())}")


@main.command("messages")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option("--limit", default=1000, show_default=True)
@click.pass_obj
def messages_command(obj: Context, as_json, limit):
    """Messages recorded on every channel, oldest first."""
    rows = list(reversed(messages.list_messages(obj.connect(), limit=limit)))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['created_at']}  {row['kind']:<11} {row['status']:<8} {row['recipient']}: {row['body']!r}")


@main.group("user")
def user_group():
    """Accounts."""


@user_group.command("add")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", type=click.Choice(accounts.ROLES), default="patient", show_default=True)
@click.option("--name", default="")
@click.option("--phone", default=None)
@click.option("--tz", default="UTC", show_default=True)
@click.option("--clinic", "clinic_id", type=int, default=None, help="The clinic of a clinician.")
@click.pass_obj
def user_add(obj: Context, email, password, role, name, phone, tz, clinic_id):
    """Create an account."""
    database = obj.connect()
    if clinic_id is not None and (
        role != "clinician" or not database.execute("SELECT 1 FROM clinics WHERE id = ?", [clinic_id]).fetchone()
    ):
        raise click.ClickException("--clinic needs --role clinician and an existing clinic id (reminder clinic add)")
    try:
        user_id = accounts.create_user(
            database, email=email, password=password, role=role, now=obj.clock().now(), name=name, phone=phone, tz=tz
        )
    except InputError as error:
        raise click.ClickException(error.message) from None
    if clinic_id is not None:
        database.execute("UPDATE users SET clinic_id = ? WHERE id = ?", [clinic_id, user_id])
    click.echo(f"user {user_id} created: {email} ({role}{f', clinic {clinic_id}' if clinic_id else ''})")


@main.group("clinic")
def clinic_group():
    """Clinics."""


@clinic_group.command("add")
@click.option("--name", required=True)
@click.pass_obj
def clinic_add(obj: Context, name):
    """Create a clinic; prints its id and the join code patients enter."""
    from . import clinics

    try:
        clinic_id, code = clinics.create_clinic(obj.connect(), name, obj.clock().now())
    except InputError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"clinic {clinic_id} created: {name}")
    click.echo(f"join code: {code}")


@main.group("token")
def token_group():
    """Personal API tokens."""


@token_group.command("create")
@click.option("--email", required=True)
@click.pass_obj
def token_create(obj: Context, email):
    """Create an API token; it is printed once, as the last line."""
    database = obj.connect()
    user = accounts.find_user(database, email=email.strip().lower())
    if user is None:
        raise click.ClickException(f"no user with email {email}")
    click.echo(f"API token for {user['email']} (shown once):")
    click.echo(accounts.create_token(database, user["id"], obj.clock().now(), label="cli"))


@main.command()
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@click.pass_obj
def demo(obj: Context, if_empty):
    """Seed a demo patient on baclofen, a caregiver and a clinician; print the logins."""
    _check_schema(obj)
    database = obj.connect()
    if database.execute("SELECT count(*) FROM users").fetchone()[0]:
        if if_empty:
            click.echo("demo: the database already has users; logins are listed in the README")
            return
        raise click.ClickException("the database already has users: the demo needs an empty one")
    clock = obj.clock()
    if isinstance(clock, ManualClock):
        try:
            clock.now()
        except Exception:
            from .clock import SystemClock

            clock.set(SystemClock().now())
    click.echo(demo_module.seed(database, clock.now(), obj.settings))


def _serve(obj: Context, host, port, dev) -> None:
    from werkzeug.serving import make_server

    from . import create_app

    _check_schema(obj)
    app = create_app(obj.config_path, {"server.dev_mode": True} if dev else None)
    host, port = host or obj.settings["server.host"], port or obj.settings["server.port"]
    server = make_server(host, port, app, threaded=True)
    # The drug-name tables load beside the server starting, not in the first request naming a drug.
    threading.Thread(target=ingredients.warm, name="warm-drug-names", daemon=True).start()
    click.echo(f"reminder is serving on http://{host}:{port}" + ("  (outbox: /dev/outbox)" if dev else ""))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _check_schema(obj: Context) -> None:
    if db.pending(obj.connect()):
        raise click.ClickException("the database needs migrations: run `reminder db upgrade` first")


def _instant(text: str):
    try:
        return parse_instant(text)
    except ValueError as error:
        raise click.ClickException(str(error)) from None


if __name__ == "__main__":
    main()
