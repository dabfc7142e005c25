"""The schema, as named and ordered sqlite-utils migrations.

Self-contained so that ``sqlite-utils migrate reminder.db migrations/migrations.py`` runs it too;
the app applies it with ``reminder db upgrade``. Never edit an applied migration: add one.
Timestamps are UTC ISO-8601 text (``2026-03-08T13:00:00Z``); dates are local ``YYYY-MM-DD``.
"""

from sqlite_utils import Migrations

migrations = Migrations("reminder")


@migrations(name="0001_initial")
def initial(db):
    db.executescript(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('patient', 'caregiver', 'clinician', 'admin')),
            name TEXT NOT NULL DEFAULT '',
            phone TEXT,
            tz TEXT NOT NULL DEFAULT 'UTC',
            -- JSON list of "sms" and "email"; NULL means SMS when there is a phone, else email.
            channels TEXT,
            -- Set when the patient replied STOP or Twilio answered 21610; START clears it.
            sms_opted_out_at TEXT,
            created_at TEXT NOT NULL
        );

        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            token_hash TEXT NOT NULL UNIQUE,
            label TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            last_used_at TEXT
        );

        -- The missed-dose parameters default to ../shared/domain.md section 2.
        CREATE TABLE medications (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES users(id),
            name TEXT NOT NULL CHECK (length(trim(name)) > 0),
            strength TEXT NOT NULL DEFAULT '',
            unit TEXT NOT NULL DEFAULT 'mg',
            withdrawal_risk INTEGER NOT NULL DEFAULT 0 CHECK (withdrawal_risk IN (0, 1)),
            max_daily_amount REAL CHECK (max_daily_amount IS NULL OR max_daily_amount > 0),
            on_time_minutes INTEGER NOT NULL DEFAULT 60 CHECK (on_time_minutes > 0),
            skip_fraction REAL NOT NULL DEFAULT 0.5 CHECK (skip_fraction > 0 AND skip_fraction <= 1),
            skip_hours_before_next REAL NOT NULL DEFAULT 2 CHECK (skip_hours_before_next >= 0),
            min_gap_fraction REAL NOT NULL DEFAULT 0.5 CHECK (min_gap_fraction >= 0 AND min_gap_fraction < 1),
            created_at TEXT NOT NULL,
            ended_at TEXT,
            end_reason TEXT,
            generated_until TEXT NOT NULL  -- doses exist up to this instant
        );
        CREATE INDEX medications_by_patient ON medications (patient_id);
        CREATE INDEX medications_to_generate ON medications (generated_until) WHERE ended_at IS NULL;

        -- A regimen is a sequence of steps: a plain regimen is one open-ended step; titrations
        -- and tapers are several. times and days are JSON arrays ("08:00"; 0 = Monday).
        CREATE TABLE regimen_steps (
            id INTEGER PRIMARY KEY,
            medication_id INTEGER NOT NULL REFERENCES medications(id),
            start_date TEXT NOT NULL,
            end_date TEXT CHECK (end_date IS NULL OR end_date >= start_date),
            times TEXT NOT NULL,
            days TEXT,
            amount REAL NOT NULL CHECK (amount > 0),
            created_at TEXT NOT NULL
        );
        CREATE INDEX regimen_steps_by_medication ON regimen_steps (medication_id, start_date);

        -- The dose ledger: one row per scheduled dose. Every reminder, alert and metric is
        -- computed from it. A correction is a dose_events row, never a silent overwrite.
        -- AUTOINCREMENT: a rewritten future dose never takes the id of one a page or client holds.
        CREATE TABLE doses (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            patient_id INTEGER NOT NULL REFERENCES users(id),
            medication_id INTEGER NOT NULL REFERENCES medications(id),
            step_id INTEGER REFERENCES regimen_steps(id),
            local_date TEXT NOT NULL,
            local_time TEXT NOT NULL,
            tz TEXT NOT NULL,
            scheduled_at TEXT NOT NULL,
            window_closes_at TEXT NOT NULL,
            amount REAL NOT NULL CHECK (amount > 0),
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'taken', 'skipped', 'missed', 'unknown')),
            taken_at TEXT,
            confirmed_at TEXT,
            source TEXT CHECK (source IS NULL OR source IN ('link', 'sms', 'web', 'api', 'caregiver')),
            actor_id INTEGER REFERENCES users(id),
            skip_reason TEXT,
            reminded_at TEXT,
            prompt_count INTEGER NOT NULL DEFAULT 0,
            next_prompt_at TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (medication_id, scheduled_at),
            CHECK (status != 'taken' OR taken_at IS NOT NULL)
        );
        -- The worker's queries touch only due rows, so a tick costs what is due, not the ledger.
        CREATE INDEX doses_to_prompt ON doses (next_prompt_at)
            WHERE status = 'pending' AND next_prompt_at IS NOT NULL;
        CREATE INDEX doses_to_close ON doses (window_closes_at) WHERE status = 'pending';
        CREATE INDEX doses_by_patient ON doses (patient_id, scheduled_at);

        CREATE TABLE dose_events (
            id INTEGER PRIMARY KEY,
            dose_id INTEGER NOT NULL REFERENCES doses(id),
            at TEXT NOT NULL,
            actor_id INTEGER REFERENCES users(id),
            kind TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX dose_events_by_dose ON dose_events (dose_id);

        -- Phone links: only a hash of the token is kept.
        CREATE TABLE dose_links (
            id INTEGER PRIMARY KEY,
            dose_id INTEGER NOT NULL REFERENCES doses(id),
            token_hash TEXT NOT NULL UNIQUE,
            expires_at TEXT NOT NULL,
            created_at TEXT NOT NULL
        );

        -- Every message on every channel: written before it is sent, its outcome after.
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            user_id INTEGER REFERENCES users(id),
            channel TEXT NOT NULL,
            recipient TEXT NOT NULL,
            kind TEXT NOT NULL,
            dose_id INTEGER REFERENCES doses(id),
            subject TEXT NOT NULL DEFAULT '',
            body TEXT NOT NULL,
            html TEXT NOT NULL DEFAULT '',
            context TEXT NOT NULL DEFAULT '{}',  -- what the templates were given, to re-render on another channel
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'interrupted',
                                  'cancelled')),
            provider_id TEXT,
            provider_status TEXT,  -- the provider's own word (Twilio: queued, sent, delivered, ...)
            error TEXT,
            error_code TEXT,
            -- A dose prompt is useless after its window closes: no retry and no provider queueing past it.
            valid_until TEXT,
            fallback_of INTEGER REFERENCES messages(id),
            attempts INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            claimed_at TEXT,
            sent_at TEXT,
            next_attempt_at TEXT
        );
        CREATE INDEX messages_to_send ON messages (next_attempt_at) WHERE status = 'queued';
        CREATE INDEX messages_in_flight ON messages (claimed_at) WHERE status = 'sending';
        CREATE INDEX messages_by_user ON messages (user_id, created_at);
        CREATE INDEX messages_by_dose ON messages (dose_id);
        CREATE INDEX messages_by_provider_id ON messages (provider_id);

        -- The manual clock (clock.mode = "manual"), shared by the web app and the worker.
        CREATE TABLE clock (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            now TEXT NOT NULL
        );

        -- A signing key made on first use when the config names none, so sessions and forms
        -- survive restarts and every process of one deployment agrees on it.
        CREATE TABLE instance_secrets (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );

        CREATE TABLE worker_heartbeat (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_tick_at TEXT NOT NULL,
            took_ms REAL NOT NULL
        );
        """
    )
