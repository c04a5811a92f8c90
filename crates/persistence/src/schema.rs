//! The portable Diesel schema: one `table!` set for both backends. Timestamps are `Timestamp`
//! (UTC `NaiveDateTime`) over TIMESTAMPTZ on PostgreSQL and TEXT on SQLite.
#![allow(missing_docs)]

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        username_key -> Text,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        is_active -> Bool,
        date_joined -> Timestamp,
        token_version -> BigInt,
        version -> BigInt,
    }
}

diesel::table! {
    patients (id) {
        id -> BigInt,
        user_id -> Nullable<BigInt>,
        first_name -> Text,
        last_name -> Text,
        date_of_birth -> Date,
        gender -> Text,
        contact_number -> Text,
        email -> Text,
        address -> Text,
        medical_history -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        archived_at -> Nullable<Timestamp>,
        version -> BigInt,
    }
}

diesel::table! {
    doctors (id) {
        id -> BigInt,
        user_id -> Nullable<BigInt>,
        first_name -> Text,
        last_name -> Text,
        specialization -> Text,
        contact_number -> Text,
        email -> Text,
        license_number -> Text,
        hospital -> Text,
        address -> Text,
        experience_years -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        archived_at -> Nullable<Timestamp>,
        version -> BigInt,
        hours_version -> BigInt,
        buffer_before_minutes -> Integer,
        buffer_after_minutes -> Integer,
    }
}

diesel::table! {
    mappings (id) {
        id -> BigInt,
        doctor_id -> BigInt,
        patient_id -> BigInt,
        reason_for_assignment -> Text,
        is_active -> Bool,
        assigned_by -> Nullable<BigInt>,
        assigned_date -> Timestamp,
        created_at -> Timestamp,
        deactivated_by -> Nullable<BigInt>,
        deactivated_at -> Nullable<Timestamp>,
        reactivated_by -> Nullable<BigInt>,
        reactivated_at -> Nullable<Timestamp>,
        version -> BigInt,
    }
}

diesel::table! {
    appointments (id) {
        id -> BigInt,
        doctor_id -> BigInt,
        patient_id -> BigInt,
        appointment_datetime -> Timestamp,
        duration_minutes -> Integer,
        end_datetime -> Timestamp,
        reason -> Text,
        status -> Text,
        cancellation_reason -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        archived_at -> Nullable<Timestamp>,
        version -> BigInt,
        expires_at -> Nullable<Timestamp>,
        series_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// The `appointments` table seen with the range each appointment blocks for its doctor
    /// (`[start - before, end + after)`, written by the database when its time or doctor last
    /// changed): the columns the buffered side of the rule reads. Kept apart from
    /// `appointments` so that the appointment's own row shape does not carry them.
    #[sql_name = "appointments"]
    appointment_blocks (id) {
        id -> BigInt,
        doctor_id -> BigInt,
        patient_id -> BigInt,
        appointment_datetime -> Timestamp,
        end_datetime -> Timestamp,
        status -> Text,
        archived_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
        blocked_from -> Timestamp,
        blocked_until -> Timestamp,
    }
}

diesel::table! {
    /// Read-only calendar tokens, one per account, stored as their SHA-256.
    calendar_tokens (user_id) {
        user_id -> BigInt,
        token_sha256 -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (jti) {
        jti -> Text,
        user_id -> BigInt,
        family -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Login sessions (refresh-token families): the `sid` of their access tokens.
    sessions (id) {
        id -> Text,
        user_id -> BigInt,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    registration_attempts (id) {
        id -> BigInt,
        client_ip -> Text,
        attempted_at -> Timestamp,
    }
}

diesel::table! {
    login_failures (id) {
        id -> BigInt,
        username_key -> Text,
        client_ip -> Text,
        attempted_at -> Timestamp,
    }
}

diesel::table! {
    working_hours (doctor_id) {
        doctor_id -> BigInt,
        timezone -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    working_hours_intervals (id) {
        id -> BigInt,
        doctor_id -> BigInt,
        weekday -> Integer,
        start_minute -> Integer,
        end_minute -> Integer,
    }
}

diesel::table! {
    time_off (id) {
        id -> BigInt,
        doctor_id -> BigInt,
        start_at -> Timestamp,
        end_at -> Timestamp,
        reason -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Unarchived appointments per doctor, UTC day (days since 1970-01-01) and status; kept by
    /// triggers (migration 2025-01-04), read for list counts.
    appointment_counts (doctor_id, day, status) {
        doctor_id -> BigInt,
        day -> Integer,
        status -> Text,
        n -> Integer,
    }
}

diesel::table! {
    /// The audit trail (migration 2025-01-07, docs/audit.md). PostgreSQL has one more column,
    /// `xid` (the inserting transaction, `xid8`), which only the sealer's SQL reads.
    audit_events (id) {
        id -> BigInt,
        at -> Timestamp,
        actor -> Nullable<BigInt>,
        actor_role -> Nullable<Text>,
        attempted_username -> Nullable<Text>,
        client -> Text,
        request_id -> Text,
        action -> Text,
        resource -> Text,
        resource_id -> Nullable<BigInt>,
        patients -> Text,
        query -> Text,
        status -> Integer,
        seq -> Nullable<BigInt>,
        prev_hash -> Nullable<Text>,
        hash -> Nullable<Text>,
    }
}

diesel::table! {
    /// The patients of each audit event, one row per (patient, event).
    audit_event_patients (patient_id, event_id) {
        patient_id -> BigInt,
        event_id -> BigInt,
    }
}

diesel::table! {
    /// Held (one row) only inside a prune's transaction: the audit DELETE triggers let through
    /// sealed events up to `upto_seq` while it exists.
    audit_prune_permit (id) {
        id -> Integer,
        upto_seq -> BigInt,
    }
}

diesel::table! {
    /// The last pruned audit event's position and hash: the chain goes on from it.
    audit_anchor (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
        pruned_before -> Timestamp,
        pruned_at -> Timestamp,
    }
}

diesel::table! {
    /// Leases of background tasks: one holder per name until `expires_at`.
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    /// Webhook subscriptions.
    webhooks (id) {
        id -> BigInt,
        url -> Text,
        events -> Text,
        description -> Text,
        is_active -> Bool,
        reminder_minutes -> Text,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> BigInt,
    }
}

diesel::table! {
    /// Recurring appointments: the rule each occurrence was booked by.
    appointment_series (id) {
        id -> BigInt,
        doctor_id -> BigInt,
        patient_id -> BigInt,
        first_start -> Timestamp,
        duration_minutes -> Integer,
        reason -> Text,
        rrule -> Text,
        timezone -> Text,
        created_by -> Nullable<BigInt>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    /// Idempotency keys and their stored answers.
    idempotency_keys (user_id, key) {
        user_id -> BigInt,
        key -> Text,
        method -> Text,
        path -> Text,
        body_sha256 -> Text,
        owner -> Text,
        reserved_until -> Timestamp,
        created_at -> Timestamp,
        status -> Nullable<Integer>,
        location -> Nullable<Text>,
        body -> Nullable<Binary>,
        sealed -> Bool,
        etag -> Nullable<Text>,
    }
}

diesel::table! {
    /// The transactional outbox: one row per event.
    outbox_events (id) {
        id -> BigInt,
        event_id -> Text,
        #[sql_name = "type"]
        kind -> Text,
        created_at -> Timestamp,
        payload -> Text,
        patient_id -> Nullable<BigInt>,
        webhook_id -> Nullable<BigInt>,
        fanned_out -> Bool,
        mail_only -> Bool,
        appointment_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// One mail to send, per (event, recipient, audience).
    mail_messages (id) {
        id -> BigInt,
        event_id -> BigInt,
        recipient -> Text,
        audience -> Text,
        sequence -> Integer,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        give_up_at -> Timestamp,
        lease_holder -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Mail reminders queued, per (appointment, start time).
    mail_reminders (appointment_id, start_at) {
        appointment_id -> BigInt,
        start_at -> Timestamp,
        event_id -> BigInt,
        queued_at -> Timestamp,
    }
}

diesel::table! {
    /// What one subscription must be sent of one event.
    webhook_messages (id) {
        id -> BigInt,
        event_id -> BigInt,
        webhook_id -> BigInt,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        give_up_at -> Timestamp,
        lease_holder -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// One row per delivery attempt.
    webhook_deliveries (id) {
        id -> BigInt,
        message_id -> BigInt,
        webhook_id -> BigInt,
        event_id -> Text,
        #[sql_name = "type"]
        kind -> Text,
        attempt -> Integer,
        status_code -> Nullable<Integer>,
        duration_ms -> BigInt,
        error -> Nullable<Text>,
        delivered_at -> Timestamp,
        next_attempt_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// Reminders queued, one per (appointment, subscription, offset, start time).
    reminders (appointment_id, webhook_id, offset_minutes, start_at) {
        appointment_id -> BigInt,
        webhook_id -> BigInt,
        offset_minutes -> Integer,
        start_at -> Timestamp,
        event_id -> BigInt,
        queued_at -> Timestamp,
    }
}

diesel::joinable!(patients -> users (user_id));
diesel::joinable!(mappings -> doctors (doctor_id));
diesel::joinable!(mappings -> patients (patient_id));
diesel::joinable!(appointments -> doctors (doctor_id));
diesel::joinable!(appointment_blocks -> doctors (doctor_id));
diesel::joinable!(appointments -> patients (patient_id));
diesel::joinable!(appointments -> appointment_series (series_id));
diesel::joinable!(refresh_tokens -> users (user_id));
diesel::joinable!(calendar_tokens -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(working_hours -> doctors (doctor_id));
diesel::joinable!(working_hours_intervals -> working_hours (doctor_id));
diesel::joinable!(time_off -> doctors (doctor_id));
diesel::joinable!(webhook_messages -> outbox_events (event_id));
diesel::joinable!(webhook_messages -> webhooks (webhook_id));
diesel::joinable!(mail_messages -> outbox_events (event_id));

diesel::allow_tables_to_appear_in_same_query!(
    settings,
    users,
    patients,
    doctors,
    mappings,
    appointments,
    appointment_blocks,
    calendar_tokens,
    refresh_tokens,
    sessions,
    registration_attempts,
    login_failures,
    working_hours,
    working_hours_intervals,
    time_off,
    appointment_counts,
    audit_events,
    audit_event_patients,
    webhooks,
    outbox_events,
    webhook_messages,
    webhook_deliveries,
    reminders,
    mail_messages,
    mail_reminders,
    audit_prune_permit,
    audit_anchor,
    leases,
    idempotency_keys,
    appointment_series,
);
