//! Whether a short launch that the caller alone can finish (`Join::Helpers`: a GEMM's chunks
//! claimed from a counter) wakes the worker threads or runs on the caller alone.
//!
//! Two threads halve a 64^3 GEMM's arithmetic, but the worker's half also waits on every line
//! the caller wrote for the launch (the job, the parameters, the claim counter) and runs from
//! its own core's caches. When that core is busy with something else (another process, or a
//! neighbour the host runs beside it), the worker's chunk takes longer than the whole job on the
//! caller, and the caller waits for it. So each (program, parameters) keeps a moving average of
//! its launch time with the workers and alone, tries both at first, and then takes the faster
//! way, with one trial in `EXPLORE` launches of the other way (weighted more, being rare) to
//! follow a change. While it runs alone, the workers sleep instead of spinning (a spinning
//! worker slowed the caller on the hosts where the workers lost), and a trial with them is
//! 1 + `TRIAL` launches: the first wakes them and is not averaged. Jobs longer than `SHORT_NS` with the
//! workers never run alone: there the workers' share of the arithmetic is worth far more than
//! what they can cost, and a trial alone would cost a lot. Either way runs the same kernel with
//! the same parameters and claims the same chunks (thread 0 alone is the case of workers that
//! never arrive), so the result is bitwise the same.

use std::hash::Hasher;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::fxhash::FxHasher;

/// How a launch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Through the pool: workers claim chunks beside the caller.
    Helped,
    /// The caller claims every chunk; no worker is woken.
    Solo,
}

/// The way a launch runs, whether it is timed and its time enters the averages (not a launch that
/// wakes sleeping workers, and one in `SAMPLE` of the preferred way), and whether the workers
/// should sleep rather than wait for the next launch spinning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub mode: Mode,
    pub record: bool,
    pub rest: bool,
    /// A trial of the way not preferred.
    pub trial: bool,
}

/// Launches with the workers that take at least this long (moving average) never try alone.
pub const SHORT_NS: u32 = 100_000;
/// The first launches alternate between the two ways.
const WARM: u32 = 8;
/// After that, one launch in this many goes the way not preferred, to follow a change.
pub const EXPLORE: u32 = 256;
/// A launch time enters the average clipped to this many times the average (one preempted
/// launch does not decide).
const CLIP: u64 = 4;
/// The moving averages' weight of a new launch time: 1 / 2^EMA_SHIFT, and 1 / 2^TRIAL_SHIFT for
/// a launch the way not preferred (rare, so each one counts for more).
const EMA_SHIFT: u32 = 3;
const TRIAL_SHIFT: u32 = 2;
/// A trial with sleeping workers: one launch wakes them (not averaged), the next TRIAL measure
/// them awake (a worker just woken runs its first chunk from cold caches).
const TRIAL: u32 = 3;
/// Past the first launches, one launch in SAMPLE the preferred way is timed (reading the clock
/// twice is a noticeable share of a few-microsecond launch).
const SAMPLE: u32 = 8;
/// Slots of the direct-mapped table of (program, parameters).
const SLOTS: usize = 64;

/// One (program, parameters): its key, how many launches it saw, and its average launch time
/// each way in nanoseconds (0: not measured yet).
#[derive(Debug)]
pub struct Slot {
    key: AtomicU64,
    launches: AtomicU32,
    helped_ns: AtomicU32,
    solo_ns: AtomicU32,
}

impl Slot {
    pub const fn new() -> Slot {
        Slot {
            key: AtomicU64::new(0),
            launches: AtomicU32::new(0),
            helped_ns: AtomicU32::new(0),
            solo_ns: AtomicU32::new(0),
        }
    }

    /// The way the next launch runs.
    pub fn choose(&self) -> Choice {
        let n = self.launches.load(Ordering::Relaxed);
        let helped = self.helped_ns.load(Ordering::Relaxed);
        let solo = self.solo_ns.load(Ordering::Relaxed);
        let choice = |mode, record, rest, trial| Choice {
            mode,
            record,
            rest,
            trial,
        };
        if n == 0 {
            // the first launch starts the workers: not averaged
            return choice(Mode::Helped, false, false, false);
        }
        if helped == 0 || (solo == 0 && helped >= SHORT_NS) {
            return choice(Mode::Helped, true, false, false);
        }
        if n < WARM {
            let mode = if n % 2 == 1 { Mode::Solo } else { Mode::Helped };
            return choice(mode, true, false, false);
        }
        if solo != 0 && solo < helped {
            // alone, with the workers asleep; one launch in EXPLORE wakes them and the next
            // measures them awake
            return match n % EXPLORE {
                0 => choice(Mode::Helped, false, false, true),
                1..=TRIAL => choice(Mode::Helped, true, false, true),
                _ => choice(Mode::Solo, n.is_multiple_of(SAMPLE), true, false),
            };
        }
        // with the workers; one launch in EXPLORE alone while the job is short
        if n.is_multiple_of(EXPLORE) && helped < SHORT_NS {
            choice(Mode::Solo, true, false, true)
        } else {
            choice(Mode::Helped, n.is_multiple_of(SAMPLE), false, false)
        }
    }

    /// Account a launch chosen as `choice` that took `took`.
    pub fn record(&self, choice: Choice, took: Duration) {
        if choice.record {
            let shift = if choice.trial { TRIAL_SHIFT } else { EMA_SHIFT };
            self.average(choice.mode, took, shift);
        }
        self.launches.fetch_add(1, Ordering::Relaxed);
    }

    fn average(&self, mode: Mode, took: Duration, shift: u32) {
        let sample = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        let avg = match mode {
            Mode::Helped => &self.helped_ns,
            Mode::Solo => &self.solo_ns,
        };
        let old = u64::from(avg.load(Ordering::Relaxed));
        let new = if old == 0 {
            sample
        } else {
            let s = sample.min(CLIP * old);
            // old + (s - old) / 2^shift, in integers that cannot go below 1
            ((old << shift) - old + s) >> shift
        };
        avg.store(
            u32::try_from(new.max(1)).unwrap_or(u32::MAX),
            Ordering::Relaxed,
        );
    }

    /// Start over for `key` unless the slot already holds it.
    fn claim(&self, key: u64) {
        if self.key.load(Ordering::Relaxed) != key {
            self.key.store(key, Ordering::Relaxed);
            self.launches.store(0, Ordering::Relaxed);
            self.helped_ns.store(0, Ordering::Relaxed);
            self.solo_ns.store(0, Ordering::Relaxed);
        }
    }
}

impl Default for Slot {
    fn default() -> Slot {
        Slot::new()
    }
}

static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];
static SOLO: AtomicU64 = AtomicU64::new(0);

/// The slot of program `program` launched with `params` (another pair mapped to the same slot
/// starts it over). Launches of the CPU device are serialised by its workspace lock, so a slot
/// sees one launch at a time; the atomics keep a stray concurrent one well defined.
pub fn slot(program: u64, params: &[i64]) -> &'static Slot {
    let mut h = FxHasher::default();
    h.write_u64(program);
    for &p in params {
        h.write_u64(p as u64);
    }
    // 0 marks a slot never claimed
    let key = h.finish().max(1);
    let s = &TABLE[(key as usize) % SLOTS];
    s.claim(key);
    s
}

/// Count a launch that ran on the caller alone.
pub fn count_solo() {
    SOLO.fetch_add(1, Ordering::Relaxed);
}

/// How many launches in this process ran on the caller alone.
pub fn solo_launches() -> u64 {
    SOLO.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run `launches` launches whose time each way is given by `time(mode, i)`; count the solo ones.
    fn drive(slot: &Slot, launches: u32, time: impl Fn(Mode, u32) -> u64) -> u32 {
        let mut solo = 0;
        for i in 0..launches {
            let choice = slot.choose();
            solo += u32::from(choice.mode == Mode::Solo);
            slot.record(choice, Duration::from_nanos(time(choice.mode, i)));
        }
        solo
    }

    #[test]
    fn a_job_the_workers_speed_up_keeps_them_and_only_explores_alone() {
        let s = Slot::new();
        let solo = drive(
            &s,
            1000,
            |m, _| if m == Mode::Helped { 3_700 } else { 5_900 },
        );
        // the warm-up's odd launches, then one in EXPLORE
        let warm = (2..WARM).filter(|n| n % 2 == 1).count();
        let explored = (WARM..1000).filter(|n| n % EXPLORE == 0).count();
        assert_eq!(solo as usize, warm + explored);
        assert_eq!(s.choose().mode, Mode::Helped);
    }

    #[test]
    fn a_job_the_workers_slow_down_runs_alone() {
        let s = Slot::new();
        let solo = drive(
            &s,
            1000,
            |m, _| if m == Mode::Helped { 7_000 } else { 5_800 },
        );
        assert!(
            solo > 1000 - (1 + TRIAL) * (1000 / EXPLORE + 1) - WARM,
            "{solo} of 1000 alone"
        );
        // alone, the workers sleep; a trial with them first wakes them and is not counted
        let c = s.choose();
        assert!(c.mode == Mode::Solo && c.rest && c.record);
        let n = s.launches.load(Ordering::Relaxed);
        let wake = (EXPLORE - n % EXPLORE) % EXPLORE;
        for _ in 0..wake {
            s.record(s.choose(), Duration::from_nanos(5_800));
        }
        let helped = s.helped_ns.load(Ordering::Relaxed);
        let c = s.choose();
        assert!(c.mode == Mode::Helped && !c.record && !c.rest);
        s.record(c, Duration::from_millis(1)); // the wake-up: not averaged
        assert_eq!(s.helped_ns.load(Ordering::Relaxed), helped);
        let c = s.choose();
        assert!(c.mode == Mode::Helped && c.record);
    }

    #[test]
    fn the_choice_follows_a_core_that_becomes_busy_and_idle_again() {
        let s = Slot::new();
        // workers help for 2000 launches, slow the job down for 2000, then help again
        let busy = |i: u32| (2000..4000).contains(&i);
        let time = |m: Mode, i: u32| match (m, busy(i)) {
            (Mode::Helped, false) => 3_700,
            (Mode::Helped, true) => 7_000,
            (Mode::Solo, _) => 5_900,
        };
        drive(&s, 2000, time);
        assert_eq!(s.choose().mode, Mode::Helped);
        let solo = drive(&s, 2000, |m, i| time(m, i + 2000));
        assert!(
            solo > 1800,
            "{solo} of 2000 alone while the workers' core was busy"
        );
        let solo = drive(&s, 2000, |m, i| time(m, i + 4000));
        assert!(
            solo < 200,
            "{solo} of 2000 alone once the workers helped again"
        );
    }

    #[test]
    fn a_long_job_never_runs_alone() {
        let s = Slot::new();
        assert_eq!(drive(&s, 1000, |_, _| u64::from(SHORT_NS)), 0);
        let s = Slot::new();
        assert_eq!(drive(&s, 1000, |_, _| 1_000_000_000), 0);
    }

    #[test]
    fn one_preempted_launch_does_not_decide() {
        let s = Slot::new();
        drive(
            &s,
            100,
            |m, _| if m == Mode::Helped { 3_700 } else { 5_900 },
        );
        // a helped launch held up for a millisecond (a time slice) enters clipped
        s.average(Mode::Helped, Duration::from_millis(1), EMA_SHIFT);
        assert!(s.helped_ns.load(Ordering::Relaxed) < 5_900);
        assert_eq!(s.choose().mode, Mode::Helped);
    }

    #[test]
    fn a_slot_taken_by_another_job_starts_over() {
        let s = Slot::new();
        s.claim(7);
        drive(
            &s,
            100,
            |m, _| if m == Mode::Helped { 7_000 } else { 5_800 },
        );
        s.claim(7);
        assert!(s.launches.load(Ordering::Relaxed) == 100);
        s.claim(8);
        assert_eq!(s.launches.load(Ordering::Relaxed), 0);
        assert_eq!(s.choose().mode, Mode::Helped); // unmeasured: the plan's threads first
    }
}
