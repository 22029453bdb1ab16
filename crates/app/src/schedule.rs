//! When pull sources run: schedules as administrators write them (`every 15m`, `hourly`,
//! `daily 02:30`, `weekly mon 03:00`, `cron …`, in a time zone) and the pure decision of whether a
//! source is due. A server that was down runs a missed schedule once when it comes back, not once
//! per missed slot.

use std::str::FromStr;
use std::time::Duration;

use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};

use crate::Error;

/// When a pull source runs: `every 15m`, `every 2h`, `hourly`, `twice daily`, `daily 02:30`,
/// `weekly mon 03:00`, or `cron <expression>`, in a time zone (UTC unless given).
#[derive(Debug, Clone)]
pub enum Schedule {
    Every(Duration),
    Cron { cron: Box<Cron>, zone: TimeZone },
}

fn parse_every(text: &str) -> Option<Duration> {
    let (num, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok().filter(|n| *n > 0)?;
    Some(Duration::from_secs(match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return None,
    }))
}

fn hh_mm(text: &str) -> Option<(u8, u8)> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some((h, m))
}

const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    pub fn parse(text: &str, timezone: Option<&str>) -> Result<Schedule, Error> {
        let zone = match timezone {
            Some(name) => TimeZone::get(name)
                .map_err(|e| Error::Invalid(format!("'{name}' is not a time zone (e.g. Europe/Berlin): {e}")))?,
            None => TimeZone::UTC,
        };
        let t = text.trim().to_ascii_lowercase();
        let words: Vec<&str> = t.split_whitespace().collect();
        let cron_text = match words.as_slice() {
            ["every", d] => return parse_every(d).map(Schedule::Every).ok_or_else(|| bad(text)),
            ["hourly"] => "0 * * * *".to_string(),
            ["twice", "daily"] => "0 0,12 * * *".to_string(),
            ["daily", at] => hh_mm(at).map(|(h, m)| format!("{m} {h} * * *")).ok_or_else(|| bad(text))?,
            ["weekly", day, at] => {
                let d = DAYS.iter().position(|x| day.starts_with(x)).ok_or_else(|| bad(text))?;
                hh_mm(at).map(|(h, m)| format!("{m} {h} * * {d}")).ok_or_else(|| bad(text))?
            }
            ["cron", ..] => text.trim()[4..].trim().to_string(),
            _ => return Err(bad(text)),
        };
        let cron = Cron::from_str(&cron_text)
            .map_err(|e| Error::Invalid(format!("'{cron_text}' is not a cron expression: {e}")))?;
        Ok(Schedule::Cron { cron: Box::new(cron), zone })
    }

    /// The first run strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Timestamp {
        match self {
            Schedule::Every(d) => {
                after + jiff::SignedDuration::try_from(*d).unwrap_or(jiff::SignedDuration::from_hours(1))
            }
            Schedule::Cron { cron, zone } => {
                let now = Zoned::new(after, zone.clone());
                cron.find_next_occurrence(&now, false)
                    .map(|z| z.timestamp())
                    .unwrap_or(after + jiff::SignedDuration::from_hours(24))
            }
        }
    }
}

/// The next `n` times a schedule as written runs, in its time zone, so an administrator sees what
/// it means before saving it; `first` is the next run already worked out, if any.
pub fn upcoming(
    text: &str,
    timezone: Option<&str>,
    first: Option<Timestamp>,
    now: Timestamp,
    n: usize,
) -> Result<Vec<String>, Error> {
    let schedule = Schedule::parse(text, timezone)?;
    let zone = timezone.and_then(|name| TimeZone::get(name).ok()).unwrap_or(TimeZone::UTC);
    let mut at = first.filter(|f| *f > now).unwrap_or_else(|| schedule.next_after(now));
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        times.push(Zoned::new(at, zone.clone()).strftime("%a %Y-%m-%d %H:%M %Z").to_string());
        at = schedule.next_after(at);
    }
    Ok(times)
}

fn bad(text: &str) -> Error {
    Error::Invalid(format!(
        "'{text}' is not a schedule; use 'every 15m', 'every 2h', 'hourly', 'twice daily', 'daily 02:30', 'weekly mon 03:00' or 'cron 0 */2 * * *'"
    ))
}

/// A pull source's schedule as stored with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScheduleState {
    /// No scheduled runs until resumed (a restored source starts so).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run now; afterwards the next run is at `next`.
    Run { next: Timestamp },
    /// Not due: wait until `next` (which may be new and needs saving).
    Wait { next: Timestamp },
    /// Due, but the previous run is still going.
    Busy,
}

/// What to do about one source at `now`. A source that never ran on a fixed interval runs at
/// once; a cron schedule waits for its first slot. However many slots were missed, one run.
pub fn decide(schedule: &Schedule, state: &ScheduleState, now: Timestamp, running: bool) -> Decision {
    let due = match (state.next_run, state.last_run, schedule) {
        (Some(next), _, _) => next,
        (None, None, Schedule::Every(_)) => now,
        (None, Some(last), _) => schedule.next_after(last),
        (None, None, Schedule::Cron { .. }) => return Decision::Wait { next: schedule.next_after(now) },
    };
    if due > now {
        return Decision::Wait { next: due };
    }
    if running {
        return Decision::Busy;
    }
    Decision::Run { next: schedule.next_after(now) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_forms_administrators_write() {
        let every = Schedule::parse("every 15m", None).unwrap();
        assert_eq!(every.next_after(at("2027-01-01T00:00:00Z")), at("2027-01-01T00:15:00Z"));
        let hourly = Schedule::parse("hourly", None).unwrap();
        assert_eq!(hourly.next_after(at("2027-01-01T10:20:00Z")), at("2027-01-01T11:00:00Z"));
        let twice = Schedule::parse("twice daily", None).unwrap();
        assert_eq!(twice.next_after(at("2027-01-01T10:20:00Z")), at("2027-01-01T12:00:00Z"));
        let daily = Schedule::parse("daily 02:30", Some("Europe/Berlin")).unwrap();
        assert_eq!(daily.next_after(at("2027-01-01T10:00:00Z")), at("2027-01-02T01:30:00Z"));
        let weekly = Schedule::parse("weekly mon 03:00", None).unwrap();
        assert_eq!(weekly.next_after(at("2027-01-01T00:00:00Z")), at("2027-01-04T03:00:00Z"), "2027-01-01 is a Friday");
        let cron = Schedule::parse("cron */20 * * * *", None).unwrap();
        assert_eq!(cron.next_after(at("2027-01-01T00:05:00Z")), at("2027-01-01T00:20:00Z"));
        for wrong in ["every", "every 0m", "daily 25:00", "weekly xyz 03:00", "cron 61 * * * *", "sometimes"] {
            assert!(Schedule::parse(wrong, None).is_err(), "{wrong}");
        }
        assert!(
            Schedule::parse("daily 02:00", Some("Mars/Olympus")).unwrap_err().to_string().contains("not a time zone")
        );
    }

    #[test]
    fn daylight_saving_changes_neither_skip_nor_double_a_run() {
        let daily = Schedule::parse("daily 02:30", Some("Europe/Berlin")).unwrap();
        // Spring forward (2027-03-28): 02:30 does not exist; the run is at the first instant after
        // the gap, 03:00 CEST, and the next day is back at 02:30.
        let spring = daily.next_after(at("2027-03-27T12:00:00Z"));
        assert_eq!(spring, at("2027-03-28T01:00:00Z"));
        assert_eq!(daily.next_after(spring), at("2027-03-29T00:30:00Z"));
        // Fall back (2027-10-31): 02:30 happens twice; one run.
        let fall = daily.next_after(at("2027-10-30T12:00:00Z"));
        assert_eq!(fall, at("2027-10-31T00:30:00Z"));
        assert_eq!(daily.next_after(fall), at("2027-11-01T01:30:00Z"));
    }

    #[test]
    fn the_next_runs_are_shown_in_the_schedules_time_zone() {
        let now = at("2027-01-01T10:00:00Z");
        let daily = upcoming("daily 02:30", Some("Europe/Berlin"), None, now, 3).unwrap();
        assert_eq!(daily, ["Sat 2027-01-02 02:30 CET", "Sun 2027-01-03 02:30 CET", "Mon 2027-01-04 02:30 CET"]);
        let every = upcoming("every 2h", None, Some(at("2027-01-01T10:30:00Z")), now, 2).unwrap();
        assert_eq!(every, ["Fri 2027-01-01 10:30 UTC", "Fri 2027-01-01 12:30 UTC"], "from the run already due");
        assert!(upcoming("now and then", None, None, now, 5).is_err());
    }

    #[test]
    fn missed_runs_run_once_and_runs_never_overlap() {
        let every = Schedule::parse("every 1h", None).unwrap();
        let now = at("2027-01-01T12:00:00Z");
        // Down since 07:00: five slots missed, one run now, the next an hour from now.
        let state = ScheduleState {
            paused: false,
            last_run: Some(at("2027-01-01T06:00:00Z")),
            next_run: Some(at("2027-01-01T07:00:00Z")),
        };
        assert_eq!(decide(&every, &state, now, false), Decision::Run { next: at("2027-01-01T13:00:00Z") });
        assert_eq!(decide(&every, &state, now, true), Decision::Busy);
        // Never ran: a fixed interval runs now, a cron schedule waits for its slot.
        assert!(matches!(decide(&every, &ScheduleState::default(), now, false), Decision::Run { .. }));
        let cron = Schedule::parse("daily 02:00", None).unwrap();
        assert_eq!(
            decide(&cron, &ScheduleState::default(), now, false),
            Decision::Wait { next: at("2027-01-02T02:00:00Z") }
        );
    }
}
