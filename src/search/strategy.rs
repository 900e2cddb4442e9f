//! The search strategy, after FLAML's cost-frugal optimisation (CFO): each
//! family starts at its cheapest configuration and walks the unit cube by
//! randomised direct search (try a step, then its opposite; halve the step
//! after repeated failures), so costly settings such as many trees are
//! reached only if cheaper ones keep improving. The next family is the one
//! with the lowest estimated cost for improvement (ECI), in cost units.

use std::collections::{BTreeSet, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::learners::space::{Dim, Params};
use crate::learners::Family;

/// Starting step length in the unit cube.
const INITIAL_STEP: f64 = 0.1;
/// Below this step a family restarts from a random point.
const MIN_STEP: f64 = 0.005;
/// Proposals tried before a family whose neighbourhood only repeats
/// configurations it already ran is considered exhausted.
const FRESH_ATTEMPTS: usize = 20;

/// Local-search state of one family.
#[derive(Debug)]
pub struct FamilyState {
    /// The family.
    pub family: Family,
    /// Its space for this task.
    pub space: Vec<Dim>,
    incumbent: Vec<f64>,
    incumbent_loss: f64,
    /// Best loss this family reached (kept across restarts).
    pub best_loss: f64,
    first_loss: Option<f64>,
    step: f64,
    pending: Option<Vec<f64>>,
    fails: usize,
    /// Trials run.
    pub trials: usize,
    cost_spent: f64,
    cost_since_improvement: f64,
    seen: BTreeSet<String>,
    rng: StdRng,
    next: Option<(Vec<f64>, Params)>,
    /// Known-good points still to try after the start.
    presets: VecDeque<Vec<f64>>,
    /// Whether `next` is one of them.
    next_is_preset: bool,
    /// No fresh configuration could be found.
    pub exhausted: bool,
}

impl FamilyState {
    /// A fresh state; `seed` makes its proposals reproducible.
    pub fn new(family: Family, space: Vec<Dim>, seed: u64) -> FamilyState {
        let incumbent = space.iter().map(|d| d.init).collect();
        FamilyState {
            family,
            space,
            incumbent,
            incumbent_loss: f64::INFINITY,
            best_loss: f64::INFINITY,
            first_loss: None,
            step: INITIAL_STEP,
            pending: None,
            fails: 0,
            trials: 0,
            cost_spent: 0.0,
            cost_since_improvement: 0.0,
            seen: BTreeSet::new(),
            rng: StdRng::seed_from_u64(seed ^ (family as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            next: None,
            presets: VecDeque::new(),
            next_is_preset: false,
            exhausted: false,
        }
    }

    /// The same state, trying `presets` (unit-cube points) right after the
    /// start; one that beats the start becomes the local search's centre.
    pub fn with_presets(mut self, presets: Vec<Vec<f64>>) -> FamilyState {
        self.presets = presets.into();
        self
    }

    /// The configuration this family would run next (computed once).
    pub fn upcoming(&mut self) -> Option<&Params> {
        if self.next.is_none() && !self.exhausted {
            self.next = self.fresh_proposal();
            self.exhausted = self.next.is_none();
        }
        self.next.as_ref().map(|(_, p)| p)
    }

    /// Whether the upcoming configuration is a preset.
    pub fn upcoming_is_preset(&mut self) -> bool {
        self.upcoming();
        self.next_is_preset
    }

    /// Drops an upcoming preset (one that would not fit the time left), so
    /// the family goes on with its cheaper local search instead of waiting
    /// behind it.
    pub fn drop_preset(&mut self) {
        if self.next_is_preset {
            self.next = None;
            self.next_is_preset = false;
        }
    }

    fn fresh_proposal(&mut self) -> Option<(Vec<f64>, Params)> {
        self.next_is_preset = false;
        if self.trials > 0 || !self.seen.is_empty() {
            while let Some(point) = self.presets.pop_front() {
                let params = Params::decode(&self.space, &point);
                if !self.seen.contains(&params.describe()) {
                    self.next_is_preset = true;
                    return Some((point, params));
                }
            }
        }
        for _ in 0..FRESH_ATTEMPTS {
            let point = self.propose();
            let params = Params::decode(&self.space, &point);
            if !self.seen.contains(&params.describe()) {
                return Some((point, params));
            }
            self.fails += 1;
            self.adapt_step();
        }
        None
    }

    fn propose(&mut self) -> Vec<f64> {
        if self.trials == 0 && self.seen.is_empty() {
            return self.incumbent.clone();
        }
        let dir = match self.pending.take() {
            Some(dir) => dir.iter().map(|v| -v).collect(),
            None => {
                let dir = self.random_direction();
                self.pending = Some(dir.clone());
                dir
            }
        };
        self.incumbent
            .iter()
            .zip(&dir)
            .map(|(x, u)| (x + self.step * u).clamp(0.0, 1.0))
            .collect()
    }

    fn random_direction(&mut self) -> Vec<f64> {
        let mut v: Vec<f64> = (0..self.space.len())
            .map(|_| {
                // Box–Muller: a normal draw without another crate.
                let (u1, u2): (f64, f64) = (self.rng.gen_range(1e-12..1.0), self.rng.gen());
                (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
        v.iter_mut().for_each(|x| *x /= norm);
        // Scale so a step moves about `step` per dimension, as in FLAML.
        let scale = (self.space.len() as f64).sqrt();
        v.iter_mut().for_each(|x| *x *= scale);
        v
    }

    fn adapt_step(&mut self) {
        if self.fails >= 2 * self.space.len().max(1) {
            self.fails = 0;
            self.step *= 0.5;
            self.pending = None;
            if self.step < MIN_STEP {
                self.step = INITIAL_STEP;
                self.incumbent = (0..self.space.len()).map(|_| self.rng.gen()).collect();
                self.incumbent_loss = f64::INFINITY;
            }
        }
    }

    /// Takes the proposal for running; `record` must follow.
    pub fn take(&mut self) -> Option<(Vec<f64>, Params)> {
        self.upcoming();
        let taken = self.next.take();
        self.next_is_preset = false;
        if let Some((_, p)) = &taken {
            self.seen.insert(p.describe());
        }
        taken
    }

    /// Records a finished trial's loss (infinite when it failed) and cost.
    pub fn record(&mut self, point: Vec<f64>, loss: f64, cost: f64) {
        self.trials += 1;
        self.cost_spent += cost;
        self.cost_since_improvement += cost;
        if loss.is_finite() && self.first_loss.is_none() {
            self.first_loss = Some(loss);
        }
        if loss < self.incumbent_loss {
            self.incumbent = point;
            self.incumbent_loss = loss;
            self.pending = None;
            self.fails = 0;
        } else {
            self.fails += 1;
            self.adapt_step();
        }
        if loss < self.best_loss {
            self.best_loss = loss;
            self.cost_since_improvement = 0.0;
        }
    }

    /// Estimated cost for this family to improve on the best loss overall,
    /// given the cost of its next trial. Untried families rank by that cost
    /// alone (so cheap starts come first); others add the cost of closing
    /// their gap to the leader at their observed rate of improvement.
    pub fn eci(&self, next_cost: f64, global_best: f64) -> f64 {
        if self.trials == 0 {
            return next_cost;
        }
        let base = next_cost.max(self.cost_since_improvement);
        if !self.best_loss.is_finite() {
            return base + 2.0 * self.cost_spent;
        }
        let gap = self.best_loss - global_best;
        if gap <= 0.0 {
            return base;
        }
        let gained = self.first_loss.map_or(0.0, |f| f - self.best_loss);
        let speed = gained / self.cost_spent.max(1.0);
        if speed > 0.0 {
            base + gap / speed
        } else {
            base + 2.0 * self.cost_spent
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_cheap_and_never_repeats_a_configuration() {
        let space = vec![Dim::int("k", 1, 4, false, 1)];
        let mut s = FamilyState::new(Family::Knn, space, 1);
        let mut seen = Vec::new();
        while let Some((point, p)) = s.take() {
            if seen.is_empty() {
                assert_eq!(p.int("k"), 1);
            }
            assert!(!seen.contains(&p.int("k")));
            seen.push(p.int("k"));
            s.record(point, 1.0, 1.0);
            if seen.len() > 10 {
                break;
            }
        }
        assert!(seen.len() <= 4);
    }

    #[test]
    fn presets_follow_the_start_and_an_unaffordable_one_can_be_dropped() {
        let space = vec![Dim::int("k", 1, 40, false, 1)];
        let presets = vec![vec![1.0], vec![0.5]];
        let mut s = FamilyState::new(Family::Knn, space, 1).with_presets(presets);
        let (point, p) = s.take().unwrap();
        assert_eq!(p.int("k"), 1, "the cheap start first");
        s.record(point, 1.0, 1.0);
        assert!(s.upcoming_is_preset());
        assert_eq!(s.upcoming().unwrap().int("k"), 40);
        s.drop_preset();
        assert!(s.upcoming_is_preset(), "then the next preset");
        let (point, p) = s.take().unwrap();
        assert_eq!(p.int("k"), 21);
        s.record(point, 0.5, 1.0);
        assert!(!s.upcoming_is_preset(), "then the local search");
    }

    #[test]
    fn an_untried_family_ranks_by_its_next_cost_a_leader_by_its_pace() {
        let space = vec![Dim::int("k", 1, 40, false, 1)];
        let mut s = FamilyState::new(Family::Knn, space, 1);
        assert_eq!(s.eci(5.0, 0.2), 5.0);
        let (point, _) = s.take().unwrap();
        s.record(point, 0.3, 10.0);
        // It leads (gap <= 0): the larger of its next cost and the cost
        // spent since it last improved (none: it just improved).
        assert_eq!(s.eci(4.0, 0.3), 4.0);
        // Behind the leader with no improvement yet: twice what it spent.
        assert_eq!(s.eci(4.0, 0.1), 4.0 + 2.0 * 10.0);
        let (point, _) = s.take().unwrap();
        s.record(point, 0.2, 10.0);
        // Improved by 0.1 over 20 cost units; closing a 0.1 gap costs 20.
        assert!((s.eci(4.0, 0.1) - (4.0 + 20.0)).abs() < 1e-9);
    }
}
