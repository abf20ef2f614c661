//! The engine: realize lazy nodes by scheduling, planning, rendering, compiling (once per
//! program signature) and launching kernels; record kernels for `TinyJit` and replay them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::codegen::{self, opts::CpuTarget, Program, Strategy};
use crate::error::{Error, Result};
use crate::flags::{self, Flag};
use crate::graph::LazyRef;
use crate::kernel::Kernel;
use crate::render::{c::CRenderer, Renderer};
use crate::runtime::buffer::Buffer;
use crate::runtime::compiler::CCompiler;
use crate::runtime::cpu::{CpuProgram, Scratch};
use crate::runtime::pool::Join;
use crate::schedule::{schedule, ScheduleItem};

/// A compiled program with what it was built from.
#[derive(Debug)]
pub struct Compiled {
    pub program: CpuProgram,
    pub source: String,
    pub compile_seconds: f64,
    pub from_disk: bool,
}

/// One kernel launch as recorded by a capture.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Shared with the cached plan: building a launch on the hot path copies no strings or
    /// parameter blocks.
    pub name: Arc<str>,
    pub compiled: Arc<Compiled>,
    pub params: Arc<[i64]>,
    pub bufs: Vec<Arc<Buffer>>,
    pub threads: usize,
    pub join: Join,
    pub scratch: Scratch,
    pub flops: f64,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub kernels_run: u64,
    pub programs_compiled: u64,
    pub programs_from_disk: u64,
    pub compile_seconds: f64,
    pub beam_searches: u64,
    pub beam_cache_hits: u64,
    pub beam_seconds: f64,
}

/// A planned, compiled kernel without its buffers: what `prepare` caches per kernel AST, so a
/// repeated op skips planning, rendering and signature building on the hot path.
#[derive(Debug)]
struct Planned {
    name: Arc<str>,
    describe: String,
    compiled: Arc<Compiled>,
    params: Arc<[i64]>,
    threads: usize,
    join: Join,
    scratch: Scratch,
    flops: f64,
}

/// (kernel, BEAM, NOOPT, threads): everything a plan depends on besides the machine.
type PlanKey = (Kernel, i64, i64, usize);
/// Plans bucketed by the hash of their key (compared in full on lookup).
type PlanCache = crate::fxhash::FxHashMap<u64, Vec<(PlanKey, Arc<Planned>)>>;

const PLAN_CACHE_LIMIT: usize = 4096;

#[derive(Default)]
struct Engine {
    programs: Mutex<HashMap<String, Arc<Compiled>>>,
    plans: Mutex<PlanCache>,
    capture: Mutex<Option<Vec<Launch>>>,
    stats: Mutex<Stats>,
}

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(Engine::default)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn host_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let pick = |key: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(key))
                .map(std::string::ToString::to_string)
                .unwrap_or_default()
        };
        format!(
            "{}|{}|{}",
            std::env::consts::ARCH,
            pick("model name"),
            pick("flags")
        )
    })
}

pub fn target() -> CpuTarget {
    CpuTarget::host()
}

pub fn stats() -> Stats {
    lock(&engine().stats).clone()
}

pub(crate) fn note_beam(searched: bool, secs: f64) {
    let mut st = lock(&engine().stats);
    if searched {
        st.beam_searches += 1;
        st.beam_seconds += secs;
    } else {
        st.beam_cache_hits += 1;
    }
}

/// Render a program (no compile): what TGRAD_DEBUG=4 prints.
pub fn render(p: &Program) -> String {
    CRenderer.render(p)
}

fn compile(p: &Program) -> Result<Arc<Compiled>> {
    let e = engine();
    if let Some(c) = lock(&e.programs).get(&p.signature) {
        return Ok(c.clone());
    }
    let source = render(p);
    let cc = CCompiler::get()?;
    let t0 = Instant::now();
    let (path, built) = cc.build(&source, host_id())?;
    let program = CpuProgram::load(&path)?;
    let secs = t0.elapsed().as_secs_f64();
    if flags::debug() >= 4 {
        eprintln!("{source}");
    }
    if flags::debug() >= 2 {
        eprintln!(
            "tgrad: {} {} in {:.1} ms: {}",
            if built {
                "compiled"
            } else {
                "loaded from cache"
            },
            p.name,
            secs * 1e3,
            path.display()
        );
    }
    let compiled = Arc::new(Compiled {
        program,
        source,
        compile_seconds: secs,
        from_disk: !built,
    });
    {
        let mut st = lock(&e.stats);
        if built {
            st.programs_compiled += 1;
            st.compile_seconds += secs;
        } else {
            st.programs_from_disk += 1;
        }
    }
    lock(&e.programs).insert(p.signature.clone(), compiled.clone());
    Ok(compiled)
}

fn flops_of(p: &Program) -> f64 {
    let full: usize = p.kernel.full_shape.iter().product();
    match &p.strategy {
        Strategy::Gemm(g) => 2.0 * (g.batch * g.m * g.n * g.k) as f64,
        Strategy::Loops(_) => full as f64,
    }
}

fn describe(p: &Program) -> String {
    match &p.strategy {
        Strategy::Gemm(g) => {
            use codegen::gemm::{P_KC, P_MC, P_MCHUNKS, P_NC, P_NCHUNKS};
            format!(
                "gemm M={} N={} K={} batch={} MR={} NR={} VW={} KC={} MC={} NC={} {} {:?} threads={} chunks(m,n)=({},{})",
                g.m,
                g.n,
                g.k,
                g.batch,
                g.opts.mr,
                g.opts.nr,
                g.opts.vw,
                g.params[P_KC],
                g.params[P_MC],
                g.params[P_NC],
                g.packing().name(),
                g.parallel(),
                p.threads,
                g.params[P_MCHUNKS],
                g.params[P_NCHUNKS]
            )
        }
        Strategy::Loops(u) => format!(
            "loops full={:?} reduce={:?} uops={} threads={}",
            p.kernel.full_shape,
            p.kernel.reduce_axes,
            u.len(),
            p.threads
        ),
    }
}

/// Run without debug output or counting (BEAM's timing runs).
pub fn launch_quiet(l: &Launch) -> Result<()> {
    let ptrs: Vec<*mut u8> = l.bufs.iter().map(|b| b.as_ptr()).collect();
    l.compiled
        .program
        .launch(
            &l.params,
            &ptrs,
            l.threads,
            l.join,
            l.scratch,
            l.source_id().filter(|_| Flag::KeepPacked.get() != 0),
        )
        .map(|_| ())
}

impl Launch {
    /// The id of the buffer the launch's shared workspace is derived from (`Scratch`).
    fn source_id(&self) -> Option<u64> {
        self.scratch.derived_from.map(|i| self.bufs[i].id)
    }
}

/// `keep`: whether what the launch's shared workspace derived from its source buffer may be
/// kept (the buffer cannot have been rewritten since: see `replay`).
fn run_launch(l: &Launch, keep: bool) -> Result<()> {
    let ptrs: Vec<*mut u8> = l.bufs.iter().map(|b| b.as_ptr()).collect();
    let dbg = flags::debug();
    let t0 = (dbg >= 1).then(Instant::now);
    let kept = l.compiled.program.launch(
        &l.params,
        &ptrs,
        l.threads,
        l.join,
        l.scratch,
        l.source_id()
            .filter(|_| keep && Flag::KeepPacked.get() != 0),
    )?;
    let kept = if kept { " (packed B kept)" } else { "" };
    if let Some(t0) = t0 {
        let us = t0.elapsed().as_secs_f64() * 1e6;
        let n = {
            let mut st = lock(&engine().stats);
            st.kernels_run += 1;
            st.kernels_run
        };
        eprintln!(
            "*** CPU {n:6} {:<28} arg {:2} tm {us:10.2}us {:9.2} GFLOPS{kept}",
            l.name,
            l.bufs.len(),
            l.flops / us / 1e3
        );
    } else {
        lock(&engine().stats).kernels_run += 1;
    }
    Ok(())
}

fn plan_key_hash(k: &Kernel, flags: (i64, i64, usize)) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::fxhash::FxHasher::default();
    k.hash(&mut h);
    flags.hash(&mut h);
    h.finish()
}

fn prepare(item: &ScheduleItem, target: &CpuTarget) -> Result<Launch> {
    let flags = (Flag::Beam.get(), Flag::NoOpt.get(), target.threads);
    let hash = plan_key_hash(&item.kernel, flags);
    let hit = lock(&engine().plans).get(&hash).and_then(|v| {
        v.iter()
            .find(|((k, b, n, t), _)| (*b, *n, *t) == flags && *k == item.kernel)
            .map(|(_, p)| p.clone())
    });
    let planned = if let Some(p) = hit {
        p
    } else {
        let p = Arc::new(plan_and_compile(item, target)?);
        let mut plans = lock(&engine().plans);
        if plans.len() > PLAN_CACHE_LIMIT {
            plans.clear();
        }
        plans
            .entry(hash)
            .or_default()
            .push(((item.kernel.clone(), flags.0, flags.1, flags.2), p.clone()));
        p
    };
    if flags::debug() >= 2 {
        eprintln!("tgrad: {} {}", planned.name, planned.describe);
    }
    Ok(Launch {
        name: planned.name.clone(),
        compiled: planned.compiled.clone(),
        params: planned.params.clone(),
        bufs: item.bufs.clone(),
        threads: planned.threads,
        join: planned.join,
        scratch: planned.scratch,
        flops: planned.flops,
    })
}

fn plan_and_compile(item: &ScheduleItem, target: &CpuTarget) -> Result<Planned> {
    let mut p = codegen::plan(&item.kernel, target);
    let width = Flag::Beam.get();
    if width > 0 {
        if let Some(t) = crate::beam::tune(item, &p, width as usize, target, host_id())? {
            p = codegen::plan_tuned(&item.kernel, target, Some(&t));
        }
    }
    let compiled = compile(&p)?;
    Ok(Planned {
        describe: describe(&p),
        flops: flops_of(&p),
        name: p.name.into(),
        compiled,
        params: p.params.into(),
        threads: p.threads,
        join: p.join,
        scratch: p.scratch,
    })
}

/// Compile (or find) a planned program and bind it to the item's buffers.
pub fn launch_for(p: &Program, item: &ScheduleItem) -> Result<Launch> {
    let compiled = compile(p)?;
    let p = p.clone();
    Ok(Launch {
        flops: flops_of(&p),
        name: p.name.into(),
        compiled,
        params: p.params.into(),
        bufs: item.bufs.clone(),
        threads: p.threads,
        join: p.join,
        scratch: p.scratch,
    })
}

/// Whether kernels run on the GPU: TGRAD_DEVICE=CUDA, or TGRAD_DEVICE unset and CUDA usable and
/// passing its self-check (`runtime::cuda::default_device`). Decided once per process.
pub fn cuda_selected() -> bool {
    static SEL: OnceLock<bool> = OnceLock::new();
    *SEL.get_or_init(|| crate::runtime::cuda::default_device() == "CUDA")
}

/// Realize every root on the selected device: schedule, then run the kernels in order.
pub fn realize(roots: &[LazyRef]) -> Result<()> {
    if cuda_selected() {
        return crate::runtime::cuda::realize(roots);
    }
    realize_on_cpu(roots)
}

/// Realize every root on the CPU, whatever device is selected.
pub fn realize_on_cpu(roots: &[LazyRef]) -> Result<()> {
    let sched = schedule(roots)?;
    let target = target();
    for item in &sched.items {
        let launch = prepare(item, &target)?;
        // buffers are written once, by the kernel that creates them
        run_launch(&launch, true)?;
        if let Some(cap) = lock(&engine().capture).as_mut() {
            cap.push(launch);
        }
    }
    for (node, buf) in sched.realized {
        node.set_realized(buf);
    }
    Ok(())
}

/// Plan and render the kernels `roots` would run, without running them.
pub fn plan_only(roots: &[LazyRef]) -> Result<Vec<Program>> {
    let sched = schedule(roots)?;
    let target = target();
    Ok(sched
        .items
        .iter()
        .map(|i| codegen::plan(&i.kernel, &target))
        .collect())
}

/// Start recording launches (for TinyJit).
pub fn capture_begin() -> Result<()> {
    let mut c = lock(&engine().capture);
    if c.is_some() {
        return Err(Error::Runtime(
            "a TinyJit capture is already running (nested jit functions are not supported)".into(),
        ));
    }
    *c = Some(Vec::new());
    Ok(())
}

pub fn capture_end() -> Vec<Launch> {
    lock(&engine().capture).take().unwrap_or_default()
}

/// Replay recorded launches with some buffers swapped for others of the same size and dtype.
pub fn replay(launches: &[Launch], swaps: &[(u64, Arc<Buffer>)]) -> Result<()> {
    let swap: HashMap<u64, &Arc<Buffer>> = swaps.iter().map(|(id, b)| (*id, b)).collect();
    // a replay rewrites the captured outputs in place: data derived from one of them is stale
    let rewritten: std::collections::HashSet<u64> = launches
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
        let keep = l2
            .scratch
            .derived_from
            .is_none_or(|i| !rewritten.contains(&l2.bufs[i].id));
        run_launch(&l2, keep)?;
    }
    Ok(())
}

/// Forget programs compiled in this process (the disk cache stays); for tests of the cache.
pub fn clear_memory_cache() {
    lock(&engine().programs).clear();
    lock(&engine().plans).clear();
}

pub fn set_flag(name: &str, value: i64) -> Result<i64> {
    Ok(Flag::from_name(name)?.set(value))
}
