//! Values that hold from a time on: each sample is resolved against the
//! snapshot valid at its timestamp (the latest taken at or before it; the
//! first one for samples before every snapshot), because pod IPs are
//! reused as pods come and go.

#[derive(Debug)]
pub(crate) struct Timeline<V> {
    /// (from, value), by time.
    at: Vec<(i64, V)>,
}

impl<V> Default for Timeline<V> {
    fn default() -> Self {
        Timeline { at: Vec::new() }
    }
}

impl<V> Timeline<V> {
    /// Add the value from `t` on (times added in increasing order).
    pub fn push(&mut self, t: i64, v: V) {
        debug_assert!(self.at.last().is_none_or(|(l, _)| *l < t));
        self.at.push((t, v));
    }

    /// The value valid at `t`, and its index.
    pub fn at(&self, t: i64) -> Option<(usize, &V)> {
        let i = self.at.partition_point(|(from, _)| *from <= t);
        let i = i.saturating_sub(1);
        self.at.get(i).map(|(_, v)| (i, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_at_or_before_else_the_first() {
        let mut t = Timeline::default();
        t.push(10, 'a');
        t.push(20, 'b');
        let got: Vec<char> = [0, 10, 19, 20, 99]
            .iter()
            .map(|&x| *t.at(x).unwrap().1)
            .collect();
        assert_eq!(got, ['a', 'a', 'a', 'b', 'b']);
        assert!(Timeline::<char>::default().at(5).is_none());
    }
}
