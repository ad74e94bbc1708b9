//! The estimator behind [`FlushPolicy::Adaptive`](crate::FlushPolicy::Adaptive): moving
//! averages of the time per append call (over the window between two syncs) and of a
//! sync's duration, both read on the log's
//! [`Clock`](crate::Clock) (so the simulator drives them), and the batch they predict.
//!
//! The rule: a sync takes `sync_us`; appends arrive every `gap_us`; so about
//! `sync_us / gap_us` appends pile up during one sync anyway; and blocking writers come
//! back once released, so the calls outstanding when a sync completes are the batch they
//! can form. `target` is the larger of the two. With `target <= 1`
//! (one writer, or a slow trickle) waiting fills nothing: sync at once. Otherwise hold the
//! sync until `target` appends are owed, or until the first owed append has waited
//! `min(delay_max_us, target * gap_us)` (about one sync: waiting longer than an fsync never
//! pays, the pipeline would do better). While a sync is in flight the next batch gathers by
//! itself: the fronts start it when that sync returns (pipelined group commit).
//!
//! Integer arithmetic only, so the decisions are the same on every platform and every run
//! of a seed.

/// Weight of a new sample in the moving averages: 1/`EWMA_DIV`.
const EWMA_DIV: u64 = 8;

/// The largest batch the estimator waits for, in append calls.
pub(super) const TARGET_CALLS_MAX: u64 = 1024;

/// The adaptive policy's view of the load. All times in µs on the log's clock.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Pace {
    /// When the last sync was prepared (the start of the current batch's window).
    last_prepare_us: Option<u64>,
    /// Moving average of the time per append call, measured over whole windows between two
    /// prepared syncs (calls in the window / its length), so the bursts inside a window do
    /// not bias it; 0 until one window with calls was seen.
    gap_us: u64,
    /// Moving average of a sync's duration (prepare to complete); 0 until one completed.
    sync_us: u64,
    /// Append calls since the last sync was prepared.
    owed_calls: u64,
    /// Append calls the sync in flight (or the last one) carries.
    in_flight_calls: u64,
    /// Calls outstanding when the last sync completed (those it carried, and those owed
    /// then): blocking writers come back, so the next batch can gather all of them.
    outstanding_calls: u64,
    /// When the first of them arrived.
    first_owed_us: Option<u64>,
}

fn ewma(avg: u64, sample: u64) -> u64 {
    if avg == 0 {
        return sample.max(1);
    }
    let moved = (avg as i128 + (sample as i128 - avg as i128) / EWMA_DIV as i128).max(1);
    moved as u64
}

impl Pace {
    /// An append call arrived at `now_us`.
    pub fn on_append(&mut self, now_us: u64) {
        self.owed_calls += 1;
        self.first_owed_us.get_or_insert(now_us);
    }

    /// A sync was prepared at `now_us`: it takes every call owed so far, which close the
    /// window the rate is measured over. Returns whether the policy had held it back to
    /// fill a batch (its target was above one call).
    pub fn on_sync_prepared(&mut self, now_us: u64) -> bool {
        let paced = self.target_calls() > 1 && self.owed_calls > 1;
        if let (Some(start), true) = (self.last_prepare_us, self.owed_calls > 0) {
            let window_us = now_us.saturating_sub(start);
            self.gap_us = ewma(self.gap_us, window_us / self.owed_calls);
        }
        if self.owed_calls > 0 {
            self.last_prepare_us = Some(now_us);
        }
        self.in_flight_calls = self.owed_calls;
        self.owed_calls = 0;
        self.first_owed_us = None;
        paced
    }

    /// A sync completed successfully after `elapsed_us`.
    pub fn on_sync_done(&mut self, elapsed_us: u64) {
        self.sync_us = ewma(self.sync_us, elapsed_us);
        self.outstanding_calls = self.in_flight_calls + self.owed_calls;
    }

    /// The batch, in append calls, worth waiting for: what one sync's duration gathers at
    /// the observed rate, or (blocking writers, a closed loop) the calls outstanding when
    /// the last sync completed, whichever is more; at least 1, at most
    /// [`TARGET_CALLS_MAX`]. Without the outstanding calls a pipeline of two half batches
    /// would look like the load itself (each window holds half the writers) and never
    /// grow.
    pub fn target_calls(&self) -> u64 {
        if self.gap_us == 0 || self.sync_us == 0 {
            return 1;
        }
        let by_rate = (self.sync_us + self.gap_us / 2) / self.gap_us;
        by_rate
            .max(self.outstanding_calls)
            .clamp(1, TARGET_CALLS_MAX)
    }

    /// Whether the owed calls fill the batch (no clock needed). With no call owed, yes
    /// (the log asks only with entries owed: a lone truncation or boundary waits the delay
    /// for an append to carry it, `Log::sync_due`).
    pub fn due_by_count(&self) -> bool {
        self.owed_calls == 0 || self.owed_calls >= self.target_calls()
    }

    /// When the owed calls stop waiting for the batch to fill, if any are owed.
    pub fn deadline_us(&self, delay_max_us: u64) -> Option<u64> {
        let first = self.first_owed_us?;
        let fill_us = self.target_calls().saturating_mul(self.gap_us);
        Some(first.saturating_add(delay_max_us.min(fill_us)))
    }

    /// Whether the policy wants a sync at `now_us`.
    pub fn due(&self, now_us: u64, delay_max_us: u64) -> bool {
        self.due_by_count() || self.deadline_us(delay_max_us).is_none_or(|d| now_us >= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `writers` blocking writers against a pipelined store whose syncs take `sync_us`: a
    /// writer appends `gap_us` after its previous append returned (or after the writer
    /// before it appended), one sync runs at a time and starts when the policy says so.
    /// Returns the mean calls per sync over the last half of `syncs` syncs.
    fn pipeline(writers: u64, gap_us: u64, sync_us: u64, syncs: u64, delay_max_us: u64) -> f64 {
        let mut p = Pace::default();
        let mut ready: Vec<u64> = (1..=writers).map(|i| i * gap_us).collect(); // append times
        let mut owed = 0u64;
        let mut in_flight: Option<(u64, u64)> = None; // (end time, calls)
        let (mut done, mut calls_late) = (0u64, 0u64);
        while done < syncs {
            ready.sort_unstable();
            let next_append = ready.first().copied();
            let deadline = (owed > 0 && in_flight.is_none())
                .then(|| p.deadline_us(delay_max_us))
                .flatten();
            let next_end = in_flight.map(|(end, _)| end);
            let now = [next_append, deadline, next_end]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            if next_end == Some(now) {
                let (_, calls) = in_flight.take().unwrap();
                p.on_sync_done(sync_us);
                // The released writers append again, one gap apart.
                ready.extend((1..=calls).map(|i| now + i * gap_us));
                done += 1;
                if done > syncs / 2 {
                    calls_late += calls;
                }
            } else if next_append == Some(now) {
                ready.remove(0);
                p.on_append(now);
                owed += 1;
            }
            if in_flight.is_none() && owed > 0 && p.due(now, delay_max_us) {
                p.on_sync_prepared(now);
                in_flight = Some((now + sync_us, owed));
                owed = 0;
            }
        }
        calls_late as f64 / (syncs - syncs / 2) as f64
    }

    #[test]
    fn one_writer_syncs_at_once() {
        // A single blocking writer appends once per sync: the gap is a sync long.
        assert_eq!(pipeline(1, 5, 1000, 50, 500), 1.0);
        let mut p = Pace::default();
        for i in 0..20 {
            p.on_append(i * 1005);
            assert!(p.due(i * 1005, 500), "call {i} waited");
            p.on_sync_prepared(i * 1005);
            p.on_sync_done(1000);
        }
    }

    #[test]
    fn many_writers_fill_the_batch_the_sync_would_gather() {
        for writers in [4, 16, 64] {
            // Immediate syncs at once whenever one is not in flight: two alternating
            // half-batches. Adaptive should gather (nearly) every writer into each sync.
            let adaptive = pipeline(writers, 5, 1000, 400, 2000);
            let immediate = pipeline(writers, 5, 1000, 400, 0);
            assert!(
                adaptive >= writers as f64 * 0.9,
                "{writers} writers: {adaptive:.1} calls per sync"
            );
            assert!(
                adaptive > immediate,
                "{adaptive} vs {immediate} with no delay"
            );
        }
    }

    #[test]
    fn the_wait_is_bounded_by_the_delay_and_by_one_sync() {
        // Two windows of 10 calls each, 10 µs apart: one sync gathers 100.
        let mut p = Pace::default();
        for t in (0..=100).step_by(10) {
            p.on_append(t);
        }
        p.on_sync_prepared(0);
        for t in (10..=100).step_by(10) {
            p.on_append(t);
        }
        p.on_sync_prepared(100);
        p.on_sync_done(1000);
        p.on_append(110);
        assert!(p.target_calls() > 1);
        assert_eq!(p.deadline_us(300), Some(410), "delay_max_us caps the wait");
        assert_eq!(p.deadline_us(1_000_000), Some(110 + 1000), "about one sync");
        assert!(!p.due(409, 300));
        assert!(p.due(410, 300));
        assert!(p.due(110, 0), "delay_max_us 0 never waits");
    }

    #[test]
    fn cuts_alone_do_not_wait() {
        let mut p = Pace::default();
        p.on_append(0);
        p.on_append(1);
        p.on_sync_prepared(1);
        p.on_sync_done(1000);
        assert!(p.due_by_count(), "nothing owed but a cut");
        assert_eq!(p.deadline_us(500), None);
    }
}
