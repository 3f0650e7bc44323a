//! Weighted choice: pick one of a route's clusters with probability proportional to its weight.

use rand::Rng;

/// Items with weights, ready to draw from.
#[derive(Debug)]
pub(crate) struct WeightedChoice<T> {
    items: Box<[(T, u32)]>,
    total: u64,
}

impl<T> WeightedChoice<T> {
    /// The choice over `items`; `None` when there is nothing to choose (no item of weight > 0).
    pub(crate) fn new(items: impl IntoIterator<Item = (T, u32)>) -> Option<Self> {
        let items: Box<[(T, u32)]> = items.into_iter().filter(|(_, w)| *w > 0).collect();
        let total = items.iter().map(|(_, w)| u64::from(*w)).sum();
        (total > 0).then_some(Self { items, total })
    }

    /// Draws one item; a single item is returned without drawing a random number.
    pub(crate) fn pick(&self, rng: &mut impl Rng) -> &T {
        if let [(only, _)] = &*self.items {
            return only;
        }
        let mut point = rng.random_range(0..self.total);
        for (item, weight) in &*self.items {
            match point.checked_sub(u64::from(*weight)) {
                Some(rest) => point = rest,
                None => return item,
            }
        }
        unreachable!("the weights sum to total, so the draw lands on an item")
    }

    /// The items and their weights.
    #[cfg(test)]
    pub(crate) fn items(&self) -> impl Iterator<Item = &(T, u32)> {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn eighty_twenty_over_ten_thousand_draws() {
        let choice = WeightedChoice::new([("a", 80), ("b", 20)]).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let a = (0..10_000)
            .filter(|_| *choice.pick(&mut rng) == "a")
            .count();
        // 80 % +- 2 % (the standard deviation is 0.4 %).
        assert!(
            (7_800..=8_200).contains(&a),
            "a drawn {a} times out of 10000"
        );
    }

    #[test]
    fn zero_weights_are_never_drawn() {
        let choice = WeightedChoice::new([("a", 0), ("b", 1), ("c", 0)]).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        assert!((0..100).all(|_| *choice.pick(&mut rng) == "b"));
        assert_eq!(choice.items().count(), 1);
    }

    #[test]
    fn nothing_to_choose_is_none() {
        assert!(WeightedChoice::<&str>::new([]).is_none());
        assert!(WeightedChoice::new([("a", 0)]).is_none());
    }
}
