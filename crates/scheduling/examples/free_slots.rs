//! Builds a weekly schedule, lists free slots and checks a booking.
//! Run: `cargo run -p healthcare-scheduling --example free_slots`.

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use healthcare_domain::{AppointmentId, AppointmentStatus, DoctorId, PatientId, Role};
use healthcare_scheduling::{
    check_conflict, transition, Availability, Booking, BookingSet, Candidate, Slot, TimeOff,
    WeeklyInterval, WeeklySchedule,
};
use std::error::Error;

fn time(h: u32, m: u32) -> Result<NaiveTime, Box<dyn Error>> {
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(|| "bad time".into())
}

fn main() -> Result<(), Box<dyn Error>> {
    // Dr. 1 works Mon-Fri 09:00-12:00 and 13:00-17:00, Berlin time.
    let mut weekly = Vec::new();
    for weekday in [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ] {
        weekly.push(WeeklyInterval {
            weekday,
            start: time(9, 0)?,
            end: time(12, 0)?,
        });
        weekly.push(WeeklyInterval {
            weekday,
            start: time(13, 0)?,
            end: time(17, 0)?,
        });
    }
    let schedule = WeeklySchedule::new(chrono_tz::Europe::Berlin, weekly)?;
    let mut availability = Availability::new(schedule);
    // Off on Friday 2025-10-24 afternoon (UTC range).
    availability.time_off.push(TimeOff {
        start: Utc
            .with_ymd_and_hms(2025, 10, 24, 11, 0, 0)
            .single()
            .ok_or("bad instant")?,
        end: Utc
            .with_ymd_and_hms(2025, 10, 24, 16, 0, 0)
            .single()
            .ok_or("bad instant")?,
    });

    // One existing appointment on Monday 2025-10-27, 10:00-11:00 Berlin (09:00Z, after DST ends).
    let monday_ten = Utc
        .with_ymd_and_hms(2025, 10, 27, 9, 0, 0)
        .single()
        .ok_or("bad instant")?;
    let existing = BookingSet::new(vec![Booking {
        id: AppointmentId(1),
        doctor: DoctorId(1),
        patient: PatientId(7),
        slot: Slot::from_minutes(monday_ten, 60)?,
        status: AppointmentStatus::Scheduled,
        archived: false,
        blocked: None,
    }]);

    let from = NaiveDate::from_ymd_opt(2025, 10, 24).ok_or("bad date")?;
    let to = NaiveDate::from_ymd_opt(2025, 10, 27).ok_or("bad date")?;
    let free = availability.free_slots(from, to, 60, None, &existing)?;
    println!("Free 60-minute slots {from} .. {to} (UTC):");
    for slot in &free {
        let local = slot.start().with_timezone(&chrono_tz::Europe::Berlin);
        println!(
            "  {} - {}  ({} Berlin)",
            slot.start(),
            slot.end(),
            local.format("%a %H:%M %Z")
        );
    }

    // Patient 8 wants 10:30-11:00 Berlin on Monday: the doctor is busy until 11:00.
    let wanted = Slot::from_minutes(monday_ten + chrono::TimeDelta::minutes(30), 30)?;
    let candidate = Candidate {
        doctor: DoctorId(1),
        patient: PatientId(8),
        slot: wanted,
        ignore: None,
        buffers: healthcare_scheduling::Buffers::NONE,
    };
    println!(
        "In working hours: {}",
        availability.is_within_working_hours(&wanted)
    );
    match check_conflict(&candidate, &existing, &BookingSet::default()) {
        Ok(()) => println!("Booking accepted."),
        Err(conflict) => println!("409 {{\"non_field_errors\": [\"{}\"]}}", conflict.message()),
    }
    // Back-to-back at 11:00 is fine.
    let next = Candidate {
        slot: Slot::from_minutes(monday_ten + chrono::TimeDelta::hours(1), 30)?,
        ..candidate
    };
    println!(
        "11:00 Berlin: {:?}",
        check_conflict(&next, &existing, &BookingSet::default())
    );

    // A patient may cancel, but not complete.
    println!(
        "patient cancels: {:?}",
        transition(
            AppointmentStatus::Scheduled,
            AppointmentStatus::Cancelled,
            Role::Patient
        )
    );
    if let Err(e) = transition(
        AppointmentStatus::Scheduled,
        AppointmentStatus::Completed,
        Role::Patient,
    ) {
        println!("patient completes: {e}");
    }
    Ok(())
}
