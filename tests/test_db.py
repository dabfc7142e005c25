"""``db.immediate`` nests: alone it is a transaction, inside one it is a savepoint."""

from __future__ import annotations

import sqlite3

import pytest

from reminder.db import immediate


class Refused(Exception):
    pass


def names(db) -> list[str]:
    return [row[0] for row in db.execute("SELECT name FROM instance_secrets ORDER BY name").fetchall()]


def add(db, name: str) -> None:
    db.execute("INSERT INTO instance_secrets (name, value) VALUES (?, 'x')", [name])


def test_a_transaction_alone_commits_its_rows(db):
    with immediate(db):
        add(db, "outer")
    assert names(db) == ["outer"]
    assert not db.conn.in_transaction


def test_an_inner_failure_caught_by_the_caller_rolls_back_only_the_inner_rows(db):
    with immediate(db):
        add(db, "before")
        with pytest.raises(Refused), immediate(db):
            add(db, "inner")
            raise Refused
        add(db, "after")
    assert names(db) == ["after", "before"]


def test_an_outer_failure_after_a_successful_inner_part_rolls_back_both(db):
    with pytest.raises(Refused), immediate(db):
        add(db, "outer")
        with immediate(db):
            add(db, "inner")
        raise Refused
    assert names(db) == []
    assert not db.conn.in_transaction


def test_an_inner_failure_left_uncaught_rolls_back_the_whole_action(db):
    with pytest.raises(Refused), immediate(db):
        add(db, "outer")
        with immediate(db):
            add(db, "inner")
            raise Refused
    assert names(db) == []


def test_savepoints_nest_more_than_one_level_deep(db):
    with immediate(db):
        add(db, "one")
        with immediate(db):
            add(db, "two")
            with pytest.raises(Refused), immediate(db):
                add(db, "three")
                raise Refused
    assert names(db) == ["one", "two"]


def test_a_write_transaction_left_open_outside_immediate_is_reported_not_nested_into(db):
    # With RETURNING, sqlite-utils leaves the implicit transaction open for the rows to be read.
    db.execute("INSERT INTO instance_secrets (name, value) VALUES ('stray', 'x') RETURNING name").fetchall()
    with pytest.raises(sqlite3.OperationalError, match="within a transaction"), immediate(db):
        add(db, "lost")
    db.rollback()
    assert names(db) == []
