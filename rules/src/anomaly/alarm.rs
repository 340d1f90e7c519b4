//! Turning a stream of scores into alarms: an alarm is raised when the score reaches
//! `threshold`, and then not again for `cooldown` (one incident, one page). The NAB evaluation
//! and `tickdb anomaly score` use it; anomaly rules get the same effect from the alert state
//! (an alert that stays firing is one alert).

use serde::{Deserialize, Serialize};

/// Threshold with a quiet period after each alarm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub threshold: f64,
    pub cooldown_ms: i64,
    last: Option<i64>,
}

impl Alarm {
    pub fn new(threshold: f64, cooldown_ms: i64) -> Self {
        Alarm { threshold, cooldown_ms, last: None }
    }

    /// Whether the score at `ts_ms` raises an alarm.
    pub fn observe(&mut self, ts_ms: i64, score: f64) -> bool {
        if score < self.threshold || self.last.is_some_and(|t| ts_ms - t < self.cooldown_ms) {
            return false;
        }
        self.last = Some(ts_ms);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_alarm_per_cooldown() {
        let mut a = Alarm::new(0.5, 10);
        let fired: Vec<i64> = [(0, 0.6), (5, 0.9), (9, 0.7), (10, 0.4), (11, 0.5), (12, 0.9), (30, 0.49), (31, 1.0)]
            .into_iter()
            .filter(|&(t, s)| a.observe(t, s))
            .map(|(t, _)| t)
            .collect();
        assert_eq!(fired, [0, 11, 31]);
    }
}
