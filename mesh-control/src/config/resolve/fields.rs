//! Reading the numbers, durations and percentages of policy fields, with one error per mistake.
//!
//! A [`Fields`] reports into the load's error list for one object. Each reader returns `None`
//! after reporting, so callers fall back to a default and go on finding mistakes; whether a
//! part had any is then told by [`Fields::mark`] and [`Fields::clean_since`].

use std::ops::RangeInclusive;
use std::time::Duration;

use mesh_core::model::Share;
use serde_saphyr::{Location, Spanned};

use super::duration;
use crate::config::error::ConfigError;
use crate::config::kinds::Origin;

/// The error reporter for the fields of one object.
pub(crate) struct Fields<'a> {
    origin: &'a Origin,
    errors: &'a mut Vec<ConfigError>,
}

impl<'a> Fields<'a> {
    /// Reports the mistakes of the object at `origin` into `errors`.
    pub(crate) fn new(origin: &'a Origin, errors: &'a mut Vec<ConfigError>) -> Self {
        Self { origin, errors }
    }

    /// The object's origin and the error list, for checks that report on their own.
    pub(crate) fn parts(&mut self) -> (&'a Origin, &mut Vec<ConfigError>) {
        (self.origin, self.errors)
    }

    /// Reports a mistake in `field`, at the line of `at`.
    pub(crate) fn error(&mut self, at: Location, field: &str, message: impl Into<String>) {
        self.errors.push(self.origin.error(at, field, message));
    }

    /// A mark to compare with later: how many mistakes were reported so far.
    pub(crate) fn mark(&self) -> usize {
        self.errors.len()
    }

    /// Whether no mistake was reported since `mark`.
    pub(crate) fn clean_since(&self, mark: usize) -> bool {
        self.errors.len() == mark
    }

    /// A positive Gateway API duration.
    pub(crate) fn duration(&mut self, value: &Spanned<String>, field: &str) -> Option<Duration> {
        duration::parse(&value.value)
            .map_err(|message| self.error(value.referenced, field, message))
            .ok()
    }

    /// An integer within `range`; `meaning` says what the number counts, for the error.
    pub(crate) fn integer(
        &mut self,
        value: &Spanned<i64>,
        field: &str,
        range: RangeInclusive<u32>,
        meaning: &str,
    ) -> Option<u32> {
        let number = u32::try_from(value.value)
            .ok()
            .filter(|n| range.contains(n));
        if number.is_none() {
            let message = format!(
                "{} is out of range; use {} to {} ({meaning})",
                value.value,
                range.start(),
                range.end()
            );
            self.error(value.referenced, field, message);
        }
        number
    }

    /// A number within `low..=high` (or `low < n` when `low_open`), finite.
    pub(crate) fn real(
        &mut self,
        value: &Spanned<f64>,
        field: &str,
        (low, low_open, high): (f64, bool, f64),
        meaning: &str,
    ) -> Option<f64> {
        let n = value.value;
        let above_low = if low_open { n > low } else { n >= low };
        if n.is_finite() && above_low && n <= high {
            return Some(n);
        }
        let range = if low_open {
            format!("above {low} and at most {high}")
        } else {
            format!("{low} to {high}")
        };
        let message = format!("{n} is out of range; use a number {range} ({meaning})");
        self.error(value.referenced, field, message);
        None
    }

    /// A percentage from 0 to 100 (decimals allowed) as a share of requests.
    pub(crate) fn percent(&mut self, value: &Spanned<f64>, field: &str) -> Option<Share> {
        let percent = self.real(
            value,
            field,
            (0.0, false, 100.0),
            "a percentage of requests",
        )?;
        // Within 0..=100, so the product is within 0..=1_000_000.
        Share::from_per_million((percent * 10_000.0).round() as u32)
    }
}
