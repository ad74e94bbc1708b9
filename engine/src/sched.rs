//! The threading primitives of [`crate::Store`], switchable to a deterministic scheduler.
//!
//! The way tokio uses loom, except chosen at run time: in a build without the `shuttle`
//! feature these are thin wrappers over `std::sync` and `std::thread` (one enum variant,
//! compiled to the std call). With the feature, each primitive picks at construction between
//! std and [shuttle](https://docs.rs/shuttle)'s, by whether the constructing thread runs
//! inside a simulated execution (`sim::enter`). The simulator can then run `Store` itself,
//! not a copy, under a seeded schedule from the normal `logbook-sim swarm` binary, while
//! every other store in the same process (the tests, the benches) uses std.
//!
//! Timed waits take an absolute deadline on the store's [`Clock`]. Std waits for the time
//! left; the simulated build registers the deadline with `sim::Timers` and waits untimed,
//! so time is `SimClock`'s and only the simulator's ticker, by firing the timer, ends the
//! wait. Callers re-check their condition after every wake-up, so a spurious one is harmless.

use std::sync::Arc;

use crate::clock::Clock;
use crate::system_clock::wait_duration;

/// A mutex: `std::sync::Mutex`, or shuttle's inside a simulated execution.
#[derive(Debug)]
pub(crate) struct Mutex<T>(MutexImpl<T>);

#[derive(Debug)]
enum MutexImpl<T> {
    Std(std::sync::Mutex<T>),
    #[cfg(feature = "shuttle")]
    Shuttle(shuttle::sync::Mutex<T>),
}

/// The guard of a [`Mutex`].
pub(crate) struct MutexGuard<'a, T>(GuardImpl<'a, T>);

enum GuardImpl<'a, T> {
    Std(std::sync::MutexGuard<'a, T>),
    #[cfg(feature = "shuttle")]
    Shuttle(shuttle::sync::MutexGuard<'a, T>),
}

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(feature = "shuttle")]
        if sim::active() {
            return Mutex(MutexImpl::Shuttle(shuttle::sync::Mutex::new(value)));
        }
        Mutex(MutexImpl::Std(std::sync::Mutex::new(value)))
    }

    /// Locks, ignoring poisoning: the state under the lock is kept consistent by every
    /// critical section, which never panics halfway on purpose.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard(match &self.0 {
            MutexImpl::Std(m) => GuardImpl::Std(m.lock().unwrap_or_else(|p| p.into_inner())),
            #[cfg(feature = "shuttle")]
            MutexImpl::Shuttle(m) => {
                GuardImpl::Shuttle(m.lock().unwrap_or_else(|p| p.into_inner()))
            }
        })
    }
}

impl<T> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.0 {
            GuardImpl::Std(g) => g,
            #[cfg(feature = "shuttle")]
            GuardImpl::Shuttle(g) => g,
        }
    }
}

impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.0 {
            GuardImpl::Std(g) => g,
            #[cfg(feature = "shuttle")]
            GuardImpl::Shuttle(g) => g,
        }
    }
}

/// A condition variable paired with a [`Mutex`] of the same kind.
#[derive(Debug)]
pub(crate) struct Condvar(CondvarImpl);

#[derive(Debug)]
enum CondvarImpl {
    Std(std::sync::Condvar),
    #[cfg(feature = "shuttle")]
    Shuttle(Arc<shuttle::sync::Condvar>),
}

#[cfg(feature = "shuttle")]
const MIXED: &str = "a std guard on a simulated condvar, or the reverse";

impl Condvar {
    pub(crate) fn new() -> Self {
        #[cfg(feature = "shuttle")]
        if sim::active() {
            return Condvar(CondvarImpl::Shuttle(
                Arc::new(shuttle::sync::Condvar::new()),
            ));
        }
        Condvar(CondvarImpl::Std(std::sync::Condvar::new()))
    }

    /// Waits for a notification (or a spurious wake-up).
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        MutexGuard(match (&self.0, guard.0) {
            (CondvarImpl::Std(c), GuardImpl::Std(g)) => {
                GuardImpl::Std(c.wait(g).unwrap_or_else(|p| p.into_inner()))
            }
            #[cfg(feature = "shuttle")]
            (CondvarImpl::Shuttle(c), GuardImpl::Shuttle(g)) => {
                GuardImpl::Shuttle(c.wait(g).unwrap_or_else(|p| p.into_inner()))
            }
            #[cfg(feature = "shuttle")]
            _ => unreachable!("{MIXED}"),
        })
    }

    /// Waits for a notification, or until `clock` reaches `deadline_ms`.
    pub(crate) fn wait_until<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        clock: &dyn Clock,
        deadline_ms: u64,
    ) -> MutexGuard<'a, T> {
        MutexGuard(match (&self.0, guard.0) {
            (CondvarImpl::Std(c), GuardImpl::Std(g)) => {
                let left = wait_duration(deadline_ms.saturating_sub(clock.now_ms()).max(1));
                GuardImpl::Std(c.wait_timeout(g, left).unwrap_or_else(|p| p.into_inner()).0)
            }
            #[cfg(feature = "shuttle")]
            (CondvarImpl::Shuttle(c), GuardImpl::Shuttle(g)) => {
                let timer = sim::add_timer(deadline_ms, sim::Waker::Condvar(c.clone()));
                let g = c.wait(g).unwrap_or_else(|p| p.into_inner());
                sim::remove_timer(timer);
                GuardImpl::Shuttle(g)
            }
            #[cfg(feature = "shuttle")]
            _ => unreachable!("{MIXED}"),
        })
    }

    pub(crate) fn notify_one(&self) {
        match &self.0 {
            CondvarImpl::Std(c) => c.notify_one(),
            #[cfg(feature = "shuttle")]
            CondvarImpl::Shuttle(c) => c.notify_one(),
        }
    }

    pub(crate) fn notify_all(&self) {
        match &self.0 {
            CondvarImpl::Std(c) => c.notify_all(),
            #[cfg(feature = "shuttle")]
            CondvarImpl::Shuttle(c) => c.notify_all(),
        }
    }
}

/// A handle to a thread, to unpark it.
#[derive(Debug, Clone)]
pub(crate) struct Thread(ThreadImpl);

#[derive(Debug, Clone)]
enum ThreadImpl {
    Std(std::thread::Thread),
    #[cfg(feature = "shuttle")]
    Shuttle(shuttle::thread::Thread),
}

impl Thread {
    pub(crate) fn unpark(&self) {
        match &self.0 {
            ThreadImpl::Std(t) => t.unpark(),
            #[cfg(feature = "shuttle")]
            ThreadImpl::Shuttle(t) => t.unpark(),
        }
    }
}

/// The calling thread.
pub(crate) fn current() -> Thread {
    #[cfg(feature = "shuttle")]
    if sim::active() {
        return Thread(ThreadImpl::Shuttle(shuttle::thread::current()));
    }
    Thread(ThreadImpl::Std(std::thread::current()))
}

/// Parks the calling thread until unparked (or spuriously woken), or until `clock` reaches
/// `deadline_ms`.
pub(crate) fn park_until(clock: &dyn Clock, deadline_ms: u64) {
    #[cfg(feature = "shuttle")]
    if sim::active() {
        sim::add_timer(deadline_ms, sim::Waker::Thread(shuttle::thread::current()));
        return shuttle::thread::park();
    }
    let left = deadline_ms.saturating_sub(clock.now_ms()).max(1);
    std::thread::park_timeout(wait_duration(left));
}

/// A spawned thread, to join.
#[derive(Debug)]
pub(crate) enum JoinHandle {
    Std(std::thread::JoinHandle<()>),
    #[cfg(feature = "shuttle")]
    Shuttle(shuttle::thread::JoinHandle<()>),
}

impl JoinHandle {
    /// Waits for the thread to end; `false` if it panicked.
    pub(crate) fn join(self) -> bool {
        match self {
            JoinHandle::Std(h) => h.join().is_ok(),
            #[cfg(feature = "shuttle")]
            JoinHandle::Shuttle(h) => h.join().is_ok(),
        }
    }
}

/// Spawns a named thread.
pub(crate) fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle> {
    #[cfg(feature = "shuttle")]
    if sim::active() {
        return shuttle::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map(JoinHandle::Shuttle);
    }
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(JoinHandle::Std)
}

/// The simulator's side (feature `shuttle`): marking a thread as running a simulated
/// execution, and the timers that stand in for timed waits there.
#[cfg(feature = "shuttle")]
pub mod sim {
    use std::cell::RefCell;
    use std::sync::{Arc, Mutex};

    thread_local! {
        static TIMERS: RefCell<Option<Arc<Timers>>> = const { RefCell::new(None) };
    }

    /// What a fired timer wakes.
    #[derive(Debug)]
    pub(crate) enum Waker {
        Thread(shuttle::thread::Thread),
        Condvar(Arc<shuttle::sync::Condvar>),
    }

    /// The pending deadlines of the timed waits of one simulated execution, on the
    /// simulated clock. The simulator's ticker advances the clock and calls
    /// [`Timers::fire_due`]; nothing else ends a timed wait there.
    ///
    /// A thread's timer fires once: shuttle's park token keeps an unpark that comes before
    /// the park. A condvar's timer fires at every call until its wait returns and removes
    /// it: shuttle's `Condvar::wait` may switch before it registers the waiter, and a
    /// notification then would be lost, where a real timed wait cannot lose its timeout.
    #[derive(Debug, Default)]
    pub struct Timers {
        pending: Mutex<Pending>,
    }

    #[derive(Debug, Default)]
    struct Pending {
        next_id: u64,
        timers: Vec<(u64, u64, Waker)>,
    }

    impl Timers {
        /// Wakes every wait whose deadline is at or before `now_ms`; returns how many.
        pub fn fire_due(&self, now_ms: u64) -> usize {
            let mut threads = Vec::new();
            let mut condvars = Vec::new();
            {
                let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                p.timers.retain(|(_, deadline, waker)| {
                    if *deadline > now_ms {
                        return true;
                    }
                    match waker {
                        Waker::Thread(t) => {
                            threads.push(t.clone());
                            false
                        }
                        Waker::Condvar(c) => {
                            condvars.push(c.clone());
                            true
                        }
                    }
                });
            }
            let n = threads.len() + condvars.len();
            for t in threads {
                t.unpark();
            }
            for c in condvars {
                c.notify_all();
            }
            n
        }

        /// The earliest pending deadline.
        pub fn next_deadline_ms(&self) -> Option<u64> {
            let p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            p.timers.iter().map(|(_, d, _)| *d).min()
        }
    }

    /// Marks the calling OS thread as running a simulated execution with `timers`: every
    /// primitive built on it from now on is shuttle's. Call it inside the shuttle test
    /// closure; [`exit`] at its end.
    pub fn enter(timers: Arc<Timers>) {
        TIMERS.with(|t| *t.borrow_mut() = Some(timers));
    }

    /// Ends [`enter`].
    pub fn exit() {
        TIMERS.with(|t| *t.borrow_mut() = None);
    }

    pub(crate) fn active() -> bool {
        TIMERS.with(|t| t.borrow().is_some())
    }

    /// Registers a timed wait; returns its id for [`remove_timer`].
    pub(crate) fn add_timer(deadline_ms: u64, waker: Waker) -> u64 {
        TIMERS.with(|t| {
            let t = t.borrow();
            let Some(timers) = t.as_ref() else { return 0 };
            let mut p = timers.pending.lock().unwrap_or_else(|p| p.into_inner());
            p.next_id += 1;
            let id = p.next_id;
            p.timers.push((id, deadline_ms, waker));
            id
        })
    }

    /// The wait of timer `id` returned: forget it.
    pub(crate) fn remove_timer(id: u64) {
        TIMERS.with(|t| {
            if let Some(timers) = t.borrow().as_ref() {
                let mut p = timers.pending.lock().unwrap_or_else(|p| p.into_inner());
                p.timers.retain(|(i, _, _)| *i != id);
            }
        });
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Mutex<u8>>();
    is::<Condvar>();
    is::<Arc<Thread>>();
}
