//! Durations as administrators write them: `0`, `90s`, `15m`, `2h`, `1d`.

use crate::Error;

/// Seconds in `text`.
pub fn parse_seconds(text: &str) -> Result<u64, Error> {
    let text = text.trim();
    let not_one = || Error::Invalid(format!("'{text}' is not a duration such as 0, 90s, 15m, 2h or 1d"));
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| not_one())?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(not_one()),
    };
    n.checked_mul(factor).ok_or_else(not_one)
}

/// Seconds in `text` written plainly, as the API's schema describes it: `0`, or 1 to 99999 without
/// leading zeros, with an optional unit (`90`, `90s`, `15m`, `2h`, `1d`).
pub fn parse_plain_seconds(text: &str) -> Result<u64, Error> {
    let number = text.strip_suffix(['s', 'm', 'h', 'd']).unwrap_or(text);
    let plain = text == "0"
        || ((1..=5).contains(&number.len()) && !number.starts_with('0') && number.bytes().all(|b| b.is_ascii_digit()));
    if !plain {
        return Err(Error::Invalid(format!(
            "'{text}' is not a duration: write 0, or 1 to 99999 with an optional unit, such as 90s, 15m, 2h or 1d"
        )));
    }
    parse_seconds(text)
}

#[cfg(test)]
mod tests {
    use super::parse_seconds;

    #[test]
    fn durations() {
        assert_eq!(parse_seconds("0").unwrap(), 0);
        assert_eq!(parse_seconds("90s").unwrap(), 90);
        assert_eq!(parse_seconds("15m").unwrap(), 900);
        assert_eq!(parse_seconds("2h").unwrap(), 7200);
        assert!(parse_seconds("soon").is_err());
        assert!(parse_seconds("5y").is_err());
        assert!(parse_seconds("99999999999999999d").is_err(), "too large is not a duration either");
    }
}
