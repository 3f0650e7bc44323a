//! Gateway API durations (GEP-2257): `500ms`, `2s`, `1m`, `1h`, or up to four of them in a row
//! such as `1m30s`, each a number of up to five digits and a unit (`h`, `m`, `s` or `ms`).
//!
//! Every duration in the config is a bound or a period, so zero is refused as well.

use std::time::Duration;

/// What a duration looks like, for error messages.
const FORMAT: &str = "write a number and a unit (h, m, s or ms), such as 500ms, 2s or 1m30s";

/// Reads a positive Gateway API duration; the error says what to write instead.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    if text.starts_with('-') {
        return Err(format!("{text:?} is negative; {FORMAT}"));
    }
    let not_a_duration = || format!("{text:?} is not a duration; {FORMAT}");
    let mut total = Duration::ZERO;
    let mut rest = text;
    let mut parts = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 5 {
            return Err(not_a_duration());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| not_a_duration())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else {
            match rest.bytes().next() {
                Some(b'h') => (Duration::from_secs(3600), 1),
                Some(b'm') => (Duration::from_secs(60), 1),
                Some(b's') => (Duration::from_secs(1), 1),
                _ => return Err(not_a_duration()),
            }
        };
        rest = &rest[len..];
        parts += 1;
        if parts > 4 {
            return Err(not_a_duration());
        }
        // At most 99999h: far from overflowing.
        total += unit * u32::try_from(number).map_err(|_| not_a_duration())?;
    }
    if parts == 0 {
        return Err(not_a_duration());
    }
    if total.is_zero() {
        return Err(format!(
            "{text:?} is zero; use a positive duration such as 500ms or 2s"
        ));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_combinations() {
        let ms = Duration::from_millis;
        assert_eq!(parse("500ms"), Ok(ms(500)));
        assert_eq!(parse("2s"), Ok(ms(2000)));
        assert_eq!(parse("1m"), Ok(ms(60_000)));
        assert_eq!(parse("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse("1h1m1s1ms"), Ok(ms(3_661_001)));
        assert_eq!(parse("0s250ms"), Ok(ms(250)));
    }

    #[test]
    fn refusals_say_what_to_write() {
        for bad in [
            "",
            "2",
            "s",
            "1.5s",
            "2 s",
            "1d",
            "2S",
            "100000ms",
            "1h1m1s1ms1ms",
        ] {
            let message = parse(bad).unwrap_err();
            assert!(
                message.contains("is not a duration; write a number and a unit"),
                "{bad}: {message}"
            );
        }
        assert_eq!(
            parse("-1s").unwrap_err(),
            "\"-1s\" is negative; write a number and a unit (h, m, s or ms), such as 500ms, 2s or 1m30s"
        );
        assert_eq!(
            parse("0ms").unwrap_err(),
            "\"0ms\" is zero; use a positive duration such as 500ms or 2s"
        );
    }
}
