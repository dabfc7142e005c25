"""The schema, as named and ordered sqlite-utils migrations.

Self-contained so that ``sqlite-utils migrate reminder.db migrations/migrations.py`` runs it too;
the app applies it with ``reminder db upgrade``. Never edit an applied migration: add one.
Timestamps are UTC ISO-8601 text (``2026-03-08T13:00:00Z``); dates are local ``YYYY-MM-DD``.
"""

import re

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


@migrations(name="0002_caregivers_alerts_supply")
def caregivers_alerts_supply(db):
    db.executescript(
        """
        -- Escalation thresholds (domain.md section 3), supply (section 4) and tapering, per medication.
        ALTER TABLE medications ADD COLUMN caregiver_alert_run INTEGER NOT NULL DEFAULT 2 CHECK (caregiver_alert_run >= 1);
        ALTER TABLE medications ADD COLUMN clinician_alert_run INTEGER NOT NULL DEFAULT 3 CHECK (clinician_alert_run >= 1);
        ALTER TABLE medications ADD COLUMN clinician_alert_hours REAL NOT NULL DEFAULT 24 CHECK (clinician_alert_hours > 0);
        ALTER TABLE medications ADD COLUMN alert_repeat_hours REAL NOT NULL DEFAULT 4 CHECK (alert_repeat_hours > 0);
        ALTER TABLE medications ADD COLUMN min_taper_days INTEGER NOT NULL DEFAULT 14 CHECK (min_taper_days >= 1);
        -- When a taper plan's last day is over (UTC); the worker then ends the medication.
        ALTER TABLE medications ADD COLUMN ends_at TEXT;
        ALTER TABLE medications ADD COLUMN stock REAL CHECK (stock IS NULL OR stock >= 0);
        ALTER TABLE medications ADD COLUMN units_per_dose REAL CHECK (units_per_dose IS NULL OR units_per_dose > 0);
        ALTER TABLE medications ADD COLUMN refill_threshold_days INTEGER CHECK (refill_threshold_days IS NULL OR refill_threshold_days >= 1);
        ALTER TABLE medications ADD COLUMN refill_reminded_at TEXT;
        ALTER TABLE medications ADD COLUMN supply_alerted_at TEXT;
        CREATE INDEX medications_to_end ON medications (ends_at) WHERE ended_at IS NULL AND ends_at IS NOT NULL;

        -- A patient's caregivers: an invitation until accepted, then a link the patient can revoke.
        CREATE TABLE care_links (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            patient_id INTEGER NOT NULL REFERENCES users(id),
            caregiver_id INTEGER REFERENCES users(id),
            invite_email TEXT,
            invite_phone TEXT,
            token_hash TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL DEFAULT 'invited' CHECK (status IN ('invited', 'active', 'revoked')),
            -- JSON list of medication ids the caregiver hears about; NULL means all of them.
            medication_ids TEXT,
            -- "sms" or "email"; NULL means the caregiver's own channel choice.
            channel TEXT CHECK (channel IS NULL OR channel IN ('sms', 'email')),
            -- Also hear about runs of 3 for medications without withdrawal risk (domain.md section 3).
            all_medications INTEGER NOT NULL DEFAULT 0 CHECK (all_medications IN (0, 1)),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            accepted_at TEXT,
            revoked_at TEXT,
            CHECK (invite_email IS NOT NULL OR invite_phone IS NOT NULL)
        );
        CREATE INDEX care_links_by_patient ON care_links (patient_id);
        CREATE INDEX care_links_by_caregiver ON care_links (caregiver_id) WHERE status = 'active';

        -- Escalations. One row per run, level and kind: the unique key is what stops a run
        -- from alerting twice at the same level, across restarts and workers.
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            patient_id INTEGER NOT NULL REFERENCES users(id),
            medication_id INTEGER REFERENCES medications(id),
            kind TEXT NOT NULL CHECK (kind IN ('missed_run', 'supply', 'pump', 'pause')),
            level INTEGER NOT NULL,
            -- What the alert is about: the first dose of a run of misses, a pump's id, a date...
            run_key TEXT NOT NULL,
            -- Clinician alerts (level 3) go to caregivers until clinician links exist; kept for routing.
            for_clinician INTEGER NOT NULL DEFAULT 0 CHECK (for_clinician IN (0, 1)),
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
            summary TEXT NOT NULL,
            created_at TEXT NOT NULL,
            next_repeat_at TEXT,
            acknowledged_at TEXT,
            acknowledged_by INTEGER REFERENCES users(id),
            resolved_at TEXT,
            UNIQUE (patient_id, kind, run_key, level)
        );
        CREATE INDEX alerts_to_repeat ON alerts (next_repeat_at) WHERE status = 'open' AND next_repeat_at IS NOT NULL;
        CREATE INDEX alerts_open_by_medication ON alerts (medication_id) WHERE status != 'resolved';
        CREATE INDEX alerts_by_patient ON alerts (patient_id, created_at);

        -- Who was told about an alert: once per person (the unique key), plus repeats counted.
        CREATE TABLE alert_recipients (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            alert_id INTEGER NOT NULL REFERENCES alerts(id),
            user_id INTEGER NOT NULL REFERENCES users(id),
            token_hash TEXT NOT NULL UNIQUE,
            expires_at TEXT NOT NULL,
            notified_at TEXT NOT NULL,
            repeats INTEGER NOT NULL DEFAULT 0,
            UNIQUE (alert_id, user_id)
        );

        CREATE TABLE refills (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            medication_id INTEGER NOT NULL REFERENCES medications(id),
            quantity REAL NOT NULL CHECK (quantity > 0),
            pharmacy TEXT,
            recorded_at TEXT NOT NULL,
            actor_id INTEGER REFERENCES users(id)
        );
        CREATE INDEX refills_by_medication ON refills (medication_id, recorded_at);

        -- Intrathecal pumps: refill-by defaults to the low-reservoir alarm date minus 5 days.
        CREATE TABLE pumps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            patient_id INTEGER NOT NULL REFERENCES users(id),
            medication_id INTEGER REFERENCES medications(id),
            alarm_date TEXT NOT NULL,
            refill_by TEXT NOT NULL CHECK (refill_by <= alarm_date),
            -- Days-before-refill-by reminders already sent for this alarm date, as JSON [14, 7].
            reminders_sent TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        );
        CREATE INDEX pumps_by_patient ON pumps (patient_id);

        CREATE TABLE pump_refills (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            pump_id INTEGER NOT NULL REFERENCES pumps(id),
            refilled_at TEXT NOT NULL,
            previous_alarm_date TEXT NOT NULL,
            new_alarm_date TEXT NOT NULL,
            actor_id INTEGER REFERENCES users(id)
        );

        -- Worker jobs that run every few minutes rather than every tick, claimed like doses.
        CREATE TABLE worker_marks (
            name TEXT PRIMARY KEY,
            last_run_at TEXT NOT NULL
        );

        -- "Pause reminders for today": recorded, and the caregivers are told.
        CREATE TABLE pauses (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            medication_id INTEGER NOT NULL REFERENCES medications(id),
            local_date TEXT NOT NULL,
            reason TEXT,
            created_at TEXT NOT NULL,
            actor_id INTEGER REFERENCES users(id),
            UNIQUE (medication_id, local_date)
        );
        """
    )


@migrations(name="0003_clinics_reports")
def clinics_reports(db):
    db.executescript(
        """
        CREATE TABLE clinics (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL CHECK (length(trim(name)) > 0),
            join_code TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL
        );
        -- A clinician belongs to one clinic.
        ALTER TABLE users ADD COLUMN clinic_id INTEGER REFERENCES clinics(id);

        -- A patient's link to a clinic; either side can end it. A clinician sees only patients
        -- linked to their clinic.
        CREATE TABLE clinic_links (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            patient_id INTEGER NOT NULL REFERENCES users(id),
            clinic_id INTEGER NOT NULL REFERENCES clinics(id),
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
            created_at TEXT NOT NULL,
            ended_at TEXT,
            ended_by INTEGER REFERENCES users(id)
        );
        CREATE UNIQUE INDEX clinic_links_one_active ON clinic_links (patient_id, clinic_id) WHERE status = 'active';
        CREATE INDEX clinic_links_by_clinic ON clinic_links (clinic_id) WHERE status = 'active';

        -- A clinician invites a patient to link to the clinic; the patient accepts through the link.
        CREATE TABLE clinic_invitations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            clinic_id INTEGER NOT NULL REFERENCES clinics(id),
            invited_by INTEGER NOT NULL REFERENCES users(id),
            invite_email TEXT,
            invite_phone TEXT,
            token_hash TEXT NOT NULL UNIQUE,
            status TEXT NOT NULL DEFAULT 'invited' CHECK (status IN ('invited', 'accepted')),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            accepted_by INTEGER REFERENCES users(id),
            CHECK (invite_email IS NOT NULL OR invite_phone IS NOT NULL)
        );

        -- Every clinician view of a patient's data: who, what, when. The patient can read it.
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            actor_id INTEGER NOT NULL REFERENCES users(id),
            patient_id INTEGER NOT NULL REFERENCES users(id),
            action TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL
        );
        CREATE INDEX audit_log_by_patient ON audit_log (patient_id, at);

        -- Side effects the patient taps, with the dose they followed.
        CREATE TABLE side_effects (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            patient_id INTEGER NOT NULL REFERENCES users(id),
            medication_id INTEGER REFERENCES medications(id),
            dose_id INTEGER REFERENCES doses(id),
            kind TEXT NOT NULL CHECK (kind IN ('drowsiness', 'dizziness', 'weakness', 'headache', 'constipation',
                                               'dry_mouth', 'mood_change', 'other')),
            severity INTEGER NOT NULL CHECK (severity BETWEEN 1 AND 3),
            note TEXT NOT NULL DEFAULT '',
            at TEXT NOT NULL
        );
        CREATE INDEX side_effects_by_patient ON side_effects (patient_id, at);
        -- The clinic panel's 7- and 30-day adherence reads only this index (no table lookups).
        CREATE INDEX doses_for_panel ON doses (scheduled_at, patient_id, status, taken_at) WHERE status != 'pending';

        -- Who changed a medication or its regimen, and why (clinicians must give a reason).
        CREATE TABLE medication_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            medication_id INTEGER NOT NULL REFERENCES medications(id),
            actor_id INTEGER NOT NULL REFERENCES users(id),
            reason TEXT NOT NULL DEFAULT '',
            change TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX medication_changes_by_medication ON medication_changes (medication_id, at);
        """
    )


@migrations(name="0004_safety_ingredients_limits")
def safety_ingredients_limits(db):
    # What a medication is to the body (its ingredient and route), its single-dose ceiling, and the
    # limits a clinician set for this patient (a JSON object of field -> value), the floor a patient
    # may tighten but not loosen. Rows from before keep NULLs: the formulary resolves their names.
    db.executescript(
        """
        ALTER TABLE medications ADD COLUMN ingredient TEXT;
        ALTER TABLE medications ADD COLUMN drugbank_id TEXT;
        ALTER TABLE medications ADD COLUMN medline_plus_id TEXT;
        ALTER TABLE medications ADD COLUMN route TEXT NOT NULL DEFAULT 'oral'
            CHECK (route IN ('oral', 'intrathecal'));
        ALTER TABLE medications ADD COLUMN max_single_amount REAL
            CHECK (max_single_amount IS NULL OR max_single_amount > 0);
        ALTER TABLE medications ADD COLUMN clinician_limits TEXT NOT NULL DEFAULT '{}';
        """
    )


ALERT_KINDS_BEFORE = "CHECK (kind IN ('missed_run', 'supply', 'pump', 'pause'))"
ALERT_KINDS = (
    "CHECK (kind IN ('missed_run', 'supply', 'pump', 'pause', 'possible_overdose', 'unreachable', "
    "'side_effect', 'taper_end', 'safety_contact'))"
)


@migrations(name="0005_flagged_intakes", transactional=False)
def flagged_intakes(db):
    # A reported intake is a fact: it is recorded even when it broke a rule, with its flags
    # ("too_soon", "over_daily_maximum"), and alerts of kind possible_overdose tell people.
    # SQLite cannot change a CHECK in place: the documented rebuild (foreign keys off, copy,
    # drop, rename, indexes back, foreign_key_check), keeping whatever columns alerts has now.
    conn = db.conn
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ALTER TABLE doses ADD COLUMN flags TEXT")  # a JSON list, NULL when none
        # 1 while the flagged intake still has to be told to caregivers and clinicians (the worker).
        conn.execute("ALTER TABLE doses ADD COLUMN flag_alert_due INTEGER NOT NULL DEFAULT 0")
        conn.execute("CREATE INDEX doses_flag_alert_due ON doses (id) WHERE flag_alert_due = 1")
        table_sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'alerts'").fetchone()[0]
        index_sql = [
            row[0]
            for row in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts' AND sql IS NOT NULL"
            )
        ]
        assert ALERT_KINDS_BEFORE in table_sql, "alerts.kind CHECK is not the one this migration replaces"
        new_sql = table_sql.replace(ALERT_KINDS_BEFORE, ALERT_KINDS).replace(
            "CREATE TABLE alerts", "CREATE TABLE alerts_new", 1
        )
        conn.execute(new_sql)
        conn.execute("INSERT INTO alerts_new SELECT * FROM alerts")
        conn.execute("DROP TABLE alerts")
        conn.execute("ALTER TABLE alerts_new RENAME TO alerts")
        for sql in index_sql:
            conn.execute(sql)
        problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        assert not problems, f"foreign keys broken by the alerts rebuild: {problems[:5]}"
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


@migrations(name="0006_delivery_health")
def rel_delivery_health(db):
    db.executescript(
        """
        -- The alert a message is about: an alert's messages are retried until it is acknowledged
        -- or resolved, however long the providers are down.
        ALTER TABLE messages ADD COLUMN alert_id INTEGER REFERENCES alerts(id);
        -- A prompt's copies on other channels (a retried SMS is dropped once its email went out).
        CREATE INDEX messages_by_fallback ON messages (fallback_of) WHERE fallback_of IS NOT NULL;
        -- /healthz reads the latest attempts to tell "every channel is failing".
        CREATE INDEX messages_by_claim ON messages (claimed_at) WHERE claimed_at IS NOT NULL;

        -- Times the worker was not running (no tick for a while) or the clock stepped back, noted
        -- by the first tick after. A dose whose whole window fell inside a gap was never asked
        -- about: it becomes unknown, not missed. Operators see the last one on /healthz.
        CREATE TABLE worker_gaps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('gap', 'clock_back')),
            started_at TEXT NOT NULL,  -- the last tick before
            ended_at TEXT NOT NULL,    -- the first tick after
            UNIQUE (kind, started_at)  -- two workers waking together note it once
        );
        CREATE INDEX worker_gaps_by_end ON worker_gaps (ended_at);

        -- The real time of the last tick (seconds since the epoch), beside its clock time: on a
        -- manual clock that stands still, only this tells a dead worker from a quiet one.
        ALTER TABLE worker_heartbeat ADD COLUMN wall_seconds REAL;
        """
    )


@migrations(name="0007_scale_due_checks")
def scale_due_checks(db):
    # The tick finds escalation and resolution work the way it finds reminders: through a small
    # set of due rows written when a dose closes, never by scanning the ledger. Triggers write
    # them, so every way a dose closes (the worker, a tap, the API, a caregiver's correction)
    # marks it in the same transaction as the close.
    db.executescript(
        """
        -- Medications whose run of doses not taken may have reached a new level of the ladder.
        -- check_at: when to look next (the missed dose's time, or when 24 h without a taken dose
        -- will have passed); last_miss_at: the newest dose not taken (runs older than 72 h rest).
        CREATE TABLE runs_to_check (
            medication_id INTEGER PRIMARY KEY REFERENCES medications(id),
            last_miss_at TEXT NOT NULL,
            check_at TEXT NOT NULL
        );
        CREATE INDEX runs_to_check_due ON runs_to_check (check_at);

        CREATE TRIGGER doses_not_taken_mark_run AFTER UPDATE OF status ON doses
        WHEN NEW.status IN ('missed', 'skipped', 'unknown') AND OLD.status != NEW.status
        BEGIN
            INSERT INTO runs_to_check (medication_id, last_miss_at, check_at)
            VALUES (NEW.medication_id, NEW.scheduled_at, NEW.scheduled_at)
            ON CONFLICT (medication_id) DO UPDATE SET
                last_miss_at = max(last_miss_at, excluded.last_miss_at),
                check_at = min(check_at, excluded.check_at);
        END;
        CREATE TRIGGER doses_inserted_not_taken_mark_run AFTER INSERT ON doses
        WHEN NEW.status IN ('missed', 'skipped', 'unknown')
        BEGIN
            INSERT INTO runs_to_check (medication_id, last_miss_at, check_at)
            VALUES (NEW.medication_id, NEW.scheduled_at, NEW.scheduled_at)
            ON CONFLICT (medication_id) DO UPDATE SET
                last_miss_at = max(last_miss_at, excluded.last_miss_at),
                check_at = min(check_at, excluded.check_at);
        END;

        -- Unresolved alerts whose cause may be gone: a dose of the medication was taken, a refill
        -- or a pump refill was recorded. The worker's resolve step reads only these.
        ALTER TABLE alerts ADD COLUMN resolve_check INTEGER NOT NULL DEFAULT 0 CHECK (resolve_check IN (0, 1));
        CREATE INDEX alerts_to_resolve ON alerts (id) WHERE resolve_check = 1;
        CREATE INDEX alerts_unresolved_by_patient ON alerts (patient_id, kind) WHERE status != 'resolved';

        CREATE TRIGGER doses_taken_check_alerts AFTER UPDATE OF status ON doses
        WHEN NEW.status = 'taken' AND OLD.status != 'taken'
        BEGIN
            UPDATE alerts SET resolve_check = 1
            WHERE medication_id = NEW.medication_id AND status != 'resolved' AND kind = 'missed_run';
        END;
        CREATE TRIGGER refills_check_alerts AFTER INSERT ON refills
        BEGIN
            UPDATE alerts SET resolve_check = 1
            WHERE medication_id = NEW.medication_id AND status != 'resolved' AND kind = 'supply';
        END;
        CREATE TRIGGER pump_refills_check_alerts AFTER INSERT ON pump_refills
        BEGIN
            UPDATE alerts SET resolve_check = 1
            WHERE patient_id = (SELECT patient_id FROM pumps WHERE id = NEW.pump_id)
            AND status != 'resolved' AND kind = 'pump';
        END;

        -- What was open before this migration is looked at once.
        INSERT INTO runs_to_check (medication_id, last_miss_at, check_at)
        SELECT medication_id, max(scheduled_at), min(scheduled_at) FROM doses
        WHERE status IN ('missed', 'skipped', 'unknown') GROUP BY medication_id;
        UPDATE alerts SET resolve_check = 1 WHERE status != 'resolved';
        """
    )


@migrations(name="0008_scale_panel_summaries_retention")
def scale_panel_summaries_retention(db):
    db.executescript(
        """
        -- Each patient's line on the clinic panel, kept by the worker (summaries.py) so a panel of
        -- 10,000 patients reads 10,000 rows, not the 900,000 doses of their last 30 days. A dose
        -- closing or corrected marks its patient stale (the trigger, in the same transaction);
        -- the worker recomputes stale rows each tick and every row once a day (the windows move).
        CREATE TABLE panel_summaries (
            patient_id INTEGER PRIMARY KEY REFERENCES users(id),
            as_of TEXT NOT NULL,  -- the instant the windows were computed for
            taken_7 INTEGER NOT NULL DEFAULT 0,
            closed_7 INTEGER NOT NULL DEFAULT 0,
            taken_30 INTEGER NOT NULL DEFAULT 0,
            closed_30 INTEGER NOT NULL DEFAULT 0,
            risk_misses_7 INTEGER NOT NULL DEFAULT 0,
            last_taken_at TEXT,
            stale INTEGER NOT NULL DEFAULT 1 CHECK (stale IN (0, 1))
        );
        CREATE INDEX panel_summaries_stale ON panel_summaries (patient_id) WHERE stale = 1;
        CREATE INDEX panel_summaries_by_age ON panel_summaries (as_of);

        CREATE TRIGGER doses_answered_mark_summary AFTER UPDATE OF status, taken_at ON doses
        WHEN OLD.status IS NOT NEW.status OR OLD.taken_at IS NOT NEW.taken_at
        BEGIN
            INSERT INTO panel_summaries (patient_id, as_of) VALUES (NEW.patient_id, '')
            ON CONFLICT (patient_id) DO UPDATE SET stale = 1;
        END;
        CREATE TRIGGER doses_inserted_closed_mark_summary AFTER INSERT ON doses
        WHEN NEW.status != 'pending'
        BEGIN
            INSERT INTO panel_summaries (patient_id, as_of) VALUES (NEW.patient_id, '')
            ON CONFLICT (patient_id) DO UPDATE SET stale = 1;
        END;
        INSERT INTO panel_summaries (patient_id, as_of) SELECT id, '' FROM users WHERE role = 'patient';

        -- A pump alert is resolved by a refill of that pump since the alert (escalation.resolve).
        CREATE INDEX pump_refills_by_pump ON pump_refills (pump_id, refilled_at);

        -- Upkeep looks every 10 minutes at the medications whose stock is tracked, not at all of them.
        CREATE INDEX medications_with_stock ON medications (id) WHERE ended_at IS NULL AND stock IS NOT NULL;

        -- How far the retention step has come through each table, by id (retention.py): it
        -- walks forward in id order, so it never scans what it already did.
        CREATE TABLE retention_marks (
            name TEXT PRIMARY KEY,
            last_id INTEGER NOT NULL
        );
        """
    )


@migrations(name="0009_safety_step_announcements")
def safety_step_announcements(db):
    # A step that changes the dose is told to the patient the day before, once (step_changes.py).
    db.executescript(
        """
        ALTER TABLE regimen_steps ADD COLUMN announced_at TEXT;
        CREATE INDEX regimen_steps_to_announce ON regimen_steps (start_date) WHERE announced_at IS NULL;
        """
    )


@migrations(name="0010_auth_sessions_attempts")
def auth_sessions_attempts(db):
    db.executescript(
        """
        -- Bumped by logout, a password change or reset and "log out everywhere": a session or
        -- remember cookie carries the value it was issued with, and one that no longer matches
        -- is refused, so logging out ends every copy of the session, not just this browser's.
        ALTER TABLE users ADD COLUMN session_version INTEGER NOT NULL DEFAULT 0;
        -- Reminders go only to a verified number. Numbers already in the field count as
        -- verified (the default), so nobody stops getting reminders after the upgrade.
        ALTER TABLE users ADD COLUMN phone_verified INTEGER NOT NULL DEFAULT 1 CHECK (phone_verified IN (0, 1));
        -- An API token may expire; NULL never does.
        ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;

        -- Password-reset links and phone-verification codes: single use, expiring, stored hashed.
        CREATE TABLE auth_codes (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            purpose TEXT NOT NULL CHECK (purpose IN ('password_reset', 'phone')),
            code_hash TEXT NOT NULL,
            phone TEXT,  -- the number a phone code was sent to
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        );
        CREATE INDEX auth_codes_by_user ON auth_codes (user_id, purpose);
        CREATE UNIQUE INDEX auth_codes_by_hash ON auth_codes (code_hash);

        -- Failed guesses (logins, reset and phone codes, clinic join codes), by what was guessed
        -- at and by who: in the database so every server process counts the same ones.
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,  -- "account:<email>" or "address:<ip>"
            at TEXT NOT NULL
        );
        CREATE INDEX attempts_by_key ON attempts (kind, key, at);
        """
    )


@migrations(name="0011_safety_name_in_messages")
def safety_name_in_messages(db):
    # Whether this person's reminders name the medication (lock screens are not private): NULL
    # follows the server's notify.name_medication; 0 or 1 is their own choice.
    db.execute("ALTER TABLE users ADD COLUMN name_medication INTEGER CHECK (name_medication IN (0, 1))")


@migrations(name="0012_care_every_days_kidneys")
def care_every_days_kidneys(db):
    db.executescript(
        """
        -- Every N days counted from the step's start date (every other day = 2); NULL is every day
        -- (or the weekdays in days). A step has days or every_days, not both.
        ALTER TABLE regimen_steps ADD COLUMN every_days INTEGER CHECK (every_days IS NULL OR every_days BETWEEN 2 AND 14);

        -- Kidney function a clinician recorded for a patient: eGFR in mL/min/1.73 m2 and the day of
        -- the blood test. The latest measurement counts (baclofen label: reduce in renal impairment).
        CREATE TABLE kidney_function (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            patient_id INTEGER NOT NULL REFERENCES users(id),
            egfr REAL NOT NULL CHECK (egfr > 0 AND egfr < 200),
            measured_on TEXT NOT NULL,
            recorded_by INTEGER NOT NULL REFERENCES users(id),
            recorded_at TEXT NOT NULL
        );
        CREATE INDEX kidney_function_by_patient ON kidney_function (patient_id, measured_on);

        -- What the pump card tells emergency staff: the drug's concentration and the pump clinic's phone.
        ALTER TABLE pumps ADD COLUMN concentration TEXT;
        ALTER TABLE pumps ADD COLUMN clinic_phone TEXT;
        """
    )


@migrations(name="0013_data_erasures")
def data_erasures(db):
    db.executescript(
        """
        -- That an account was deleted, and nothing else: no reference to users (the row is gone),
        -- no name, email or health data. The audit of what was done to the patient's data goes
        -- with the data.
        CREATE TABLE erasures (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            former_user_id INTEGER NOT NULL,
            role TEXT NOT NULL,
            via TEXT NOT NULL CHECK (via IN ('settings', 'api', 'cli')),
            at TEXT NOT NULL
        );
        """
    )


@migrations(name="0014_alerts_recipients_quiet_hours")
def alerts_recipients_quiet_hours(db):
    db.executescript(
        """
        -- Who each recipient was to the patient when told (caregiver, clinician, or the patient
        -- themself when nobody else is linked) and the channels their message went on: the alert
        -- JSON lists them. The acknowledge link is derived from a secret and this row, so repeats
        -- reuse it without keeping the token itself.
        ALTER TABLE alert_recipients ADD COLUMN role TEXT NOT NULL DEFAULT 'caregiver'
            CHECK (role IN ('caregiver', 'clinician', 'patient'));
        ALTER TABLE alert_recipients ADD COLUMN channel TEXT;
        CREATE INDEX alert_recipients_by_user ON alert_recipients (user_id, alert_id);

        -- Quiet hours, local "HH:MM": non-urgent messages wait until they end (issue 10 section 5).
        ALTER TABLE users ADD COLUMN quiet_start TEXT NOT NULL DEFAULT '22:00';
        ALTER TABLE users ADD COLUMN quiet_end TEXT NOT NULL DEFAULT '07:00';
        -- When the patient was last asked to link a caregiver or a clinic (asked again weekly).
        ALTER TABLE users ADD COLUMN safety_contact_asked_at TEXT;

        -- A taken dose may end a "could not reach" run too: mark those alerts for the resolve step.
        CREATE TRIGGER doses_taken_check_unreachable_alerts AFTER UPDATE OF status ON doses
        WHEN NEW.status = 'taken' AND OLD.status != 'taken'
        BEGIN
            UPDATE alerts SET resolve_check = 1
            WHERE medication_id = NEW.medication_id AND status != 'resolved' AND kind = 'unreachable';
        END;
        """
    )


DOSE_STATUS_BEFORE = "CHECK (status IN ('pending', 'taken', 'skipped', 'missed', 'unknown'))"
DOSE_STATUS = "CHECK (status IN ('pending', 'taken', 'skipped', 'missed', 'unknown', 'cancelled'))"
DOSE_TAKEN_CHECK = "CHECK (status != 'taken' OR taken_at IS NOT NULL)"
DOSE_CANCELLED_CHECK = (
    "CHECK (status != 'taken' OR taken_at IS NOT NULL),\n"
    "            -- A cancelled dose always says why, and only a cancelled dose has a cancel_reason.\n"
    "            CHECK ((status = 'cancelled') = (cancel_reason IS NOT NULL)),\n"
    "            CHECK (cancel_reason IS NULL OR cancel_reason IN ('time_zone_change'))"
)


@migrations(name="0015_travel_cancelled_doses", transactional=False)
def travel_cancelled_doses(db):
    # Travel never adds doses (issue 9 section 3): after a change of time zone, a dose that would
    # fall too soon after the previous one or go over the daily maximum in 24 hours stays in the
    # ledger as 'cancelled', with its reason. SQLite cannot change a CHECK in place: the documented
    # 12-step rebuild (foreign keys off, copy, drop, rename, indexes and triggers back,
    # foreign_key_check), keeping whatever columns doses has now, and its AUTOINCREMENT counter
    # (an id a page or client holds is never reused).
    conn = db.conn
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ALTER TABLE doses ADD COLUMN cancel_reason TEXT")
        table_sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'doses'").fetchone()[0]
        kept_sql = [
            row[0]
            for row in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = 'doses' "
                "AND sql IS NOT NULL ORDER BY type, name"
            )
        ]
        sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'doses'").fetchone()
        assert DOSE_STATUS_BEFORE in table_sql, "doses.status CHECK is not the one this migration replaces"
        assert DOSE_TAKEN_CHECK in table_sql, "doses has lost its taken_at CHECK"
        new_sql = (
            table_sql.replace(DOSE_STATUS_BEFORE, DOSE_STATUS)
            .replace(DOSE_TAKEN_CHECK, DOSE_CANCELLED_CHECK)
            .replace("CREATE TABLE doses", "CREATE TABLE doses_new", 1)
        )
        conn.execute(new_sql)
        conn.execute("INSERT INTO doses_new SELECT * FROM doses")
        conn.execute("DROP TABLE doses")
        conn.execute("ALTER TABLE doses_new RENAME TO doses")
        for sql in kept_sql:
            conn.execute(sql)
        if sequence:
            conn.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'doses'", [sequence[0]])
        problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        assert not problems, f"foreign keys broken by the doses rebuild: {problems[:5]}"
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


@migrations(name="0016_watch_ended_medication_alerts")
def watch_ended_medication_alerts(db):
    db.executescript(
        """
        -- A medication that ends (stopped by a clinician, by its taper or the end of its plan) ends
        -- its alerts: mark them for the worker's resolve step, which closes them and says why.
        CREATE TRIGGER medications_ended_check_alerts AFTER UPDATE OF ended_at ON medications
        WHEN NEW.ended_at IS NOT NULL AND OLD.ended_at IS NULL
        BEGIN
            UPDATE alerts SET resolve_check = 1 WHERE medication_id = NEW.id AND status != 'resolved';
        END;

        -- What is open now about a medication that already ended is looked at once.
        UPDATE alerts SET resolve_check = 1 WHERE status != 'resolved'
            AND medication_id IN (SELECT id FROM medications WHERE ended_at IS NOT NULL);
        """
    )


ALERT_KINDS_BEFORE_0017 = ALERT_KINDS
ALERT_KINDS_0017 = ALERT_KINDS.replace("'safety_contact'))", "'safety_contact', 'renal_ceiling'))")


@migrations(name="0017_watch_renal_ceiling_alerts", transactional=False)
def watch_renal_ceiling_alerts(db):
    # An eGFR under 30 that leaves a plan in force above the halved ceiling alerts the clinicians
    # and tells the patient (kind renal_ceiling), each in their own words (patient_summary).
    # The kind CHECK is changed by the documented rebuild, as 0005_flagged_intakes did.
    conn = db.conn
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        conn.execute("BEGIN IMMEDIATE")
        table_sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'alerts'").fetchone()[0]
        index_sql = [
            row[0]
            for row in conn.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts' AND sql IS NOT NULL"
            )
        ]
        # Triggers on other tables that write alerts would dangle while it is rebuilt: dropped, then made again.
        triggers = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%alerts%'"
        ).fetchall()
        for name, _ in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        assert ALERT_KINDS_BEFORE_0017 in table_sql, "alerts.kind CHECK is not the one this migration replaces"
        # After 0005's rename SQLite stores the name quoted: CREATE TABLE "alerts".
        new_sql = re.sub(
            r'^CREATE TABLE "?alerts"?',
            "CREATE TABLE alerts_new",
            table_sql.replace(ALERT_KINDS_BEFORE_0017, ALERT_KINDS_0017),
        )
        conn.execute(new_sql)
        conn.execute("INSERT INTO alerts_new SELECT * FROM alerts")
        conn.execute("DROP TABLE alerts")
        conn.execute("ALTER TABLE alerts_new RENAME TO alerts")
        for sql in index_sql + [sql for _, sql in triggers]:
            conn.execute(sql)
        # The text the patient gets when it differs from everyone else's (NULL: the summary).
        conn.execute("ALTER TABLE alerts ADD COLUMN patient_summary TEXT")
        problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        assert not problems, f"foreign keys broken by the alerts rebuild: {problems[:5]}"
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    finally:
        conn.execute("PRAGMA foreign_keys=ON")


@migrations(name="0018_auth_email_confirmations")
def auth_email_confirmations(db):
    db.executescript(
        """
        -- An email address proven before it is used: a sign-up (the account is created when the
        -- link sent to the address comes back) or a new email on an account (changed then). Only
        -- the link's hash is kept; the password is kept hashed, as in users.
        CREATE TABLE email_confirmations (
            id INTEGER PRIMARY KEY,
            purpose TEXT NOT NULL CHECK (purpose IN ('signup', 'email_change')),
            email TEXT NOT NULL COLLATE NOCASE,
            user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,  -- email_change: whose email
            password_hash TEXT,  -- signup: the account's
            role TEXT CHECK (role IS NULL OR role IN ('patient', 'caregiver')),
            name TEXT NOT NULL DEFAULT '',
            tz TEXT,
            phone TEXT,  -- signup through a text invitation: the number it reached
            care_link_id INTEGER REFERENCES care_links(id) ON DELETE SET NULL,  -- accepted on confirming
            code_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            CHECK ((purpose = 'signup') = (user_id IS NULL))
        );
        CREATE INDEX email_confirmations_by_user ON email_confirmations (user_id, purpose);
        """
    )


@migrations(name="0019_pwa_push_subscriptions")
def pwa_push_subscriptions(db):
    db.executescript(
        """
        -- One row per browser a user turned push on in (issue 14 section 1): the push service's
        -- endpoint and the browser's keys the payload is encrypted to. A 404 or 410 from the push
        -- service deletes the row.
        CREATE TABLE push_subscriptions (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            endpoint TEXT NOT NULL UNIQUE CHECK (endpoint LIKE 'http%' AND length(endpoint) <= 2000),
            p256dh TEXT NOT NULL CHECK (length(p256dh) BETWEEN 80 AND 100),
            auth TEXT NOT NULL CHECK (length(auth) BETWEEN 16 AND 32),
            user_agent TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id);

        -- How many browsers can get a user's push messages, kept by the triggers below so the
        -- channel registry can tell from the users row alone that push reaches them.
        ALTER TABLE users ADD COLUMN push_devices INTEGER NOT NULL DEFAULT 0;
        CREATE TRIGGER push_subscriptions_count_in AFTER INSERT ON push_subscriptions
        BEGIN
            UPDATE users SET push_devices = push_devices + 1 WHERE id = NEW.user_id;
        END;
        CREATE TRIGGER push_subscriptions_count_out AFTER DELETE ON push_subscriptions
        BEGIN
            UPDATE users SET push_devices = max(push_devices - 1, 0) WHERE id = OLD.user_id;
        END;

        -- The server's VAPID key pair, made once (row 1) and kept: every subscription is tied to
        -- its public key, so a new pair would silently end them all.
        CREATE TABLE push_keys (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            private_pem TEXT NOT NULL,
            public_key TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        """
    )


@migrations(name="0020_perf_supply_checks")
def perf_supply_checks(db):
    db.executescript(
        """
        -- When upkeep next projects a medication's supply (supply.py): '' as soon as it runs,
        -- NULL when there is nothing to tell (both marks set), else the instant the stock may
        -- reach a threshold, so every 10 minutes upkeep reads only what is due, not every stock.
        -- supply_checked_at is when the last projection was made: a dose scheduled before it
        -- and taken after it was not counted, so supply.consume asks for a new look.
        ALTER TABLE medications ADD COLUMN supply_check_at TEXT DEFAULT '';
        ALTER TABLE medications ADD COLUMN supply_checked_at TEXT;
        CREATE INDEX medications_supply_check ON medications (supply_check_at)
            WHERE ended_at IS NULL AND stock IS NOT NULL;

        -- What moves the day the stock runs short asks for a new look, in the same transaction:
        -- a refill or a stock given back, tracking started, the units a dose uses, the
        -- thresholds, a mark cleared by a refill, the plan. A stock that falls is a dose taken,
        -- which the projection counted (see supply_checked_at above).
        CREATE TRIGGER medications_supply_changed AFTER UPDATE OF stock, units_per_dose, strength, unit,
            refill_threshold_days, withdrawal_risk, refill_reminded_at, supply_alerted_at, ended_at ON medications
        WHEN NEW.stock > OLD.stock OR (OLD.stock IS NULL) != (NEW.stock IS NULL)
            OR NEW.units_per_dose IS NOT OLD.units_per_dose OR NEW.strength IS NOT OLD.strength
            OR NEW.unit IS NOT OLD.unit OR NEW.refill_threshold_days IS NOT OLD.refill_threshold_days
            OR NEW.withdrawal_risk IS NOT OLD.withdrawal_risk OR NEW.ended_at IS NOT OLD.ended_at
            OR (OLD.refill_reminded_at IS NOT NULL AND NEW.refill_reminded_at IS NULL)
            OR (OLD.supply_alerted_at IS NOT NULL AND NEW.supply_alerted_at IS NULL)
        BEGIN
            UPDATE medications SET supply_check_at = '' WHERE id = NEW.id;
        END;
        CREATE TRIGGER regimen_steps_added_supply AFTER INSERT ON regimen_steps
        BEGIN
            UPDATE medications SET supply_check_at = '' WHERE id = NEW.medication_id;
        END;
        CREATE TRIGGER regimen_steps_changed_supply AFTER UPDATE OF start_date, end_date, times, days, amount,
            every_days ON regimen_steps
        BEGIN
            UPDATE medications SET supply_check_at = '' WHERE id = NEW.medication_id;
        END;
        CREATE TRIGGER regimen_steps_removed_supply AFTER DELETE ON regimen_steps
        BEGIN
            UPDATE medications SET supply_check_at = '' WHERE id = OLD.medication_id;
        END;

        -- Upkeep's pump reminders and overdue alarms read the pumps due by date, not every pump.
        CREATE INDEX pumps_by_refill_by ON pumps (refill_by);
        CREATE INDEX pumps_by_alarm_date ON pumps (alarm_date);
        -- An alert for clinicians finds the clinic's clinicians without reading every user.
        CREATE INDEX users_by_clinic ON users (clinic_id) WHERE clinic_id IS NOT NULL;
        """
    )


@migrations(name="0021_prompts_dose_groups")
def prompts_dose_groups(db):
    db.executescript(
        """
        -- Doses of one patient due at the same instant, prompted in one message (issue 9 section 6).
        -- A follow-up makes a new group of what is still open, so a group never changes.
        CREATE TABLE dose_groups (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL
        );
        CREATE TABLE dose_group_members (
            group_id INTEGER NOT NULL REFERENCES dose_groups(id),
            dose_id INTEGER NOT NULL REFERENCES doses(id),
            PRIMARY KEY (group_id, dose_id)
        );
        CREATE INDEX dose_group_members_by_dose ON dose_group_members (dose_id);

        -- The group's phone link: like dose_links, only the token's hash is kept.
        CREATE TABLE dose_group_links (
            id INTEGER PRIMARY KEY,
            group_id INTEGER NOT NULL REFERENCES dose_groups(id),
            token_hash TEXT NOT NULL UNIQUE,
            expires_at TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX dose_group_links_by_group ON dose_group_links (group_id);

        -- A group prompt has no dose_id; its doses are the group's members.
        ALTER TABLE messages ADD COLUMN dose_group_id INTEGER REFERENCES dose_groups(id);
        CREATE INDEX messages_by_dose_group ON messages (dose_group_id) WHERE dose_group_id IS NOT NULL;
        """
    )
