//! The store's one type for a point in time. It is written as RFC 3339 text in UTC to the
//! millisecond, the form every stored time has, so that stored times compare as text in SQL in
//! the order of time.

use std::fmt;
use std::str::FromStr;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{Sqlite, SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(jiff::Timestamp);

impl Time {
    pub fn now() -> Time {
        Time(jiff::Timestamp::now())
    }

    pub fn timestamp(self) -> jiff::Timestamp {
        self.0
    }
}

impl From<jiff::Timestamp> for Time {
    fn from(t: jiff::Timestamp) -> Time {
        Time(t)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        f.write_str(&model::time::format_rfc3339_millis((t.as_second(), t.subsec_nanosecond().max(0) as u32)))
    }
}

/// A time that is not RFC 3339.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not an RFC 3339 time")]
pub struct NotATime(String);

impl FromStr for Time {
    type Err = NotATime;

    fn from_str(text: &str) -> Result<Time, NotATime> {
        text.parse::<jiff::Timestamp>().map(Time).map_err(|_| NotATime(text.to_string()))
    }
}

impl serde::Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl sqlx::Type<Sqlite> for Time {
    fn type_info() -> SqliteTypeInfo {
        <String as sqlx::Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as sqlx::Type<Sqlite>>::compatible(ty)
    }
}

impl sqlx::Encode<'_, Sqlite> for Time {
    fn encode_by_ref(&self, args: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as sqlx::Encode<Sqlite>>::encode(self.to_string(), args)
    }
}

impl<'r> sqlx::Decode<'r, Sqlite> for Time {
    fn decode(value: SqliteValueRef<'r>) -> Result<Time, BoxDynError> {
        Ok(<&str as sqlx::Decode<Sqlite>>::decode(value)?.parse()?)
    }
}

#[cfg(test)]
mod tests {
    use super::Time;

    #[test]
    fn times_are_written_to_the_millisecond_and_read_back() {
        let t: Time = "2026-03-29T01:30:00.123456Z".parse().unwrap();
        assert_eq!(t.to_string(), "2026-03-29T01:30:00.123Z");
        let offset: Time = "2026-03-29T03:30:00+02:00".parse().unwrap();
        assert_eq!(offset.to_string(), "2026-03-29T01:30:00.000Z", "written in UTC");
        assert!("yesterday".parse::<Time>().is_err());
    }
}
