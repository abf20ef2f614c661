//! TinyJit's capture and replay: launches recorded while a capture runs, replayed later with some
//! input buffers swapped for others of the same size and dtype.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use super::{lock, run_launch, Launch};
use crate::error::{Error, Result};
use crate::runtime::buffer::Buffer;

fn capture() -> &'static Mutex<Option<Vec<Launch>>> {
    static C: OnceLock<Mutex<Option<Vec<Launch>>>> = OnceLock::new();
    C.get_or_init(Mutex::default)
}

/// Start recording launches.
pub fn capture_begin() -> Result<()> {
    let mut c = lock(capture());
    if c.is_some() {
        return Err(Error::Runtime(
            "a TinyJit capture is already running (nested jit functions are not supported)".into(),
        ));
    }
    *c = Some(Vec::new());
    Ok(())
}

pub fn capture_end() -> Vec<Launch> {
    lock(capture()).take().unwrap_or_default()
}

/// Record a launch if a capture is running.
pub(super) fn record(l: &Launch) {
    if let Some(cap) = lock(capture()).as_mut() {
        cap.push(l.clone());
    }
}

/// Replay recorded launches with some buffers (by id) swapped for others of the same size and
/// dtype.
pub fn replay(launches: &[Launch], swaps: &[(u64, Arc<Buffer>)]) -> Result<()> {
    let swap: HashMap<u64, &Arc<Buffer>> = swaps.iter().map(|(id, b)| (*id, b)).collect();
    // a replay rewrites the captured outputs in place: data derived from one of them is stale
    let rewritten: HashSet<u64> = launches
        .iter()
        .filter_map(|l| l.bufs.first())
        .map(|b| b.id)
        .collect();
    for l in launches {
        let mut l2 = l.clone();
        for b in &mut l2.bufs {
            if let Some(nb) = swap.get(&b.id) {
                if nb.dtype != b.dtype || nb.len_bytes() != b.len_bytes() {
                    return Err(Error::Shape(format!(
                        "TinyJit input changed: captured a {} buffer of {} bytes, got a {} buffer of {} bytes",
                        b.dtype.name(),
                        b.len_bytes(),
                        nb.dtype.name(),
                        nb.len_bytes()
                    )));
                }
                *b = (*nb).clone();
            }
        }
        let derived = match l2.dims {
            crate::abi::LaunchDims::Cpu { scratch, .. } => scratch.derived_from,
            crate::abi::LaunchDims::Grid { .. } => None,
        };
        let keep = derived.is_none_or(|i| !rewritten.contains(&l2.bufs[i].id));
        run_launch(&l2, keep)?;
    }
    Ok(())
}
