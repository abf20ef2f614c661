//! The engine: realize lazy nodes on a device by scheduling, planning for the device's target,
//! rendering, compiling (once per program signature) and launching kernels; record launches for
//! `TinyJit` and replay them. One pipeline (`Engine::realize`) serves every `Device`.
//!
//! - `select`: which device a process uses (TGRAD_DEVICE, or CUDA after a self-check, or CPU).
//! - `beam`: TGRAD_BEAM's search, measured and verified through the engine.
//! - `jit`: capture and replay of launches.
//! - `aot`: the program families whose kernels are built ahead of time (the table's data).

pub mod aot;
pub mod beam;
pub mod check;
pub mod jit;
mod schedule_cache;
pub mod select;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::abi::LaunchDims;
use crate::certify::{self, cert::Status};
use crate::codegen::{self, Program, Strategy};
use crate::error::{Error, Result};
use crate::flags::{self, Flag};
use crate::graph::LazyRef;
use crate::kernel::Kernel;
use crate::render::{self, Renderer};
use crate::runtime::buffer::Buffer;
use crate::runtime::device::{Device, Origin, Program as DeviceProgram};
use crate::schedule::{schedule, Schedule, ScheduleItem};
use crate::target::Target;
use check::LaunchCheck;

pub use jit::{capture_begin, capture_end, replay};
pub use select::{cpu, current, current_name, engine_for, why_not_cuda};

/// A compiled program with what it was built from.
#[derive(Debug)]
pub struct Compiled {
    pub program: Arc<dyn DeviceProgram>,
    pub source: String,
    pub compile_seconds: f64,
    pub origin: Origin,
}

/// One kernel launch: a compiled program bound to buffers (what a capture records).
#[derive(Debug, Clone)]
pub struct Launch {
    /// Shared with the cached plan: building a launch on the hot path copies no strings or
    /// parameter blocks.
    pub name: Arc<str>,
    pub compiled: Arc<Compiled>,
    pub params: Arc<[i64]>,
    pub bufs: Vec<Arc<Buffer>>,
    pub dims: LaunchDims,
    pub flops: f64,
    /// The device it runs on (debug output).
    pub device: &'static str,
    /// What every launch of it must satisfy (`check`).
    pub check: Arc<LaunchCheck>,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub kernels_run: u64,
    pub programs_compiled: u64,
    pub programs_from_disk: u64,
    /// Programs that ran a kernel built into the binary ahead of time.
    pub programs_aot: u64,
    pub compile_seconds: f64,
    pub beam_searches: u64,
    pub beam_cache_hits: u64,
    pub beam_seconds: f64,
    pub beam_rejected: u64,
    /// Realizes replayed by the schedule cache (TGRAD_SCACHE).
    pub schedule_cache_hits: u64,
}

fn stats_cell() -> &'static Mutex<Stats> {
    static S: OnceLock<Mutex<Stats>> = OnceLock::new();
    S.get_or_init(Mutex::default)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The two counters every launch bumps, kept apart from `Stats`' lock (the dispatch-bound path).
static KERNELS_RUN: AtomicU64 = AtomicU64::new(0);
static SCHEDULE_CACHE_HITS: AtomicU64 = AtomicU64::new(0);

pub fn stats() -> Stats {
    let mut st = lock(stats_cell()).clone();
    st.kernels_run = KERNELS_RUN.load(Ordering::Relaxed);
    st.schedule_cache_hits = SCHEDULE_CACHE_HITS.load(Ordering::Relaxed);
    st
}

/// A planned, compiled kernel without its buffers: what `planned` caches per kernel AST, so a
/// repeated op skips planning, rendering and signature building on the hot path.
#[derive(Debug)]
struct Planned {
    name: Arc<str>,
    describe: String,
    compiled: Arc<Compiled>,
    params: Arc<[i64]>,
    dims: LaunchDims,
    flops: f64,
    check: Arc<LaunchCheck>,
}

/// (kernel, BEAM, NOOPT, threads, VERIFY): everything a plan depends on besides the device.
type PlanKey = (Kernel, i64, i64, usize, i64);
/// Plans bucketed by the hash of their key (compared in full on lookup).
type PlanCache = crate::fxhash::FxHashMap<u64, Vec<(PlanKey, Arc<Planned>)>>;

const PLAN_CACHE_LIMIT: usize = 4096;
const PROGRAM_CACHE_LIMIT: usize = 1024;

/// The pipeline on one device.
pub struct Engine {
    device: Arc<dyn Device>,
    renderer: &'static dyn Renderer,
    programs: Mutex<HashMap<String, Arc<Compiled>>>,
    plans: Mutex<PlanCache>,
    graphs: Mutex<schedule_cache::Cache>,
}

impl Engine {
    pub fn new(device: Arc<dyn Device>) -> Engine {
        let renderer = render::for_target(&device.target());
        Engine {
            device,
            renderer,
            programs: Mutex::default(),
            plans: Mutex::default(),
            graphs: Mutex::default(),
        }
    }

    pub fn device(&self) -> &dyn Device {
        &*self.device
    }

    /// The target kernels are planned for (the CPU's thread count read now: THREADS may change).
    pub fn target(&self) -> Target {
        self.device.target()
    }

    /// Plan a kernel for this engine's target.
    pub fn plan(&self, kernel: &Kernel) -> Result<Program> {
        codegen::plan(kernel, &self.target())
    }

    /// Render a program (no compile): what TGRAD_DEBUG=4 prints.
    pub fn render(&self, p: &Program) -> String {
        self.renderer.render(p)
    }

    pub fn launch_dims(&self, p: &Program) -> Result<LaunchDims> {
        self.renderer.launch_dims(p)
    }

    /// Compile (or find) the program for `p`'s source.
    pub fn compile(&self, p: &Program) -> Result<Arc<Compiled>> {
        if let Some(c) = lock(&self.programs).get(&p.signature) {
            return Ok(c.clone());
        }
        let source = self.render(p);
        let t0 = Instant::now();
        let loaded = self.device.load(&source).map_err(|e| match e {
            Error::CompilerMissing { compiler, detail } => Error::CompilerMissing {
                compiler,
                detail: format!("{detail} (kernel {}: {})", p.name, describe(p)),
            },
            e => e,
        })?;
        let secs = t0.elapsed().as_secs_f64();
        if flags::debug() >= 4 {
            eprintln!("{source}");
        }
        if flags::debug() >= 2 {
            let how = match loaded.origin {
                Origin::Compiled => "compiled".to_string(),
                Origin::Cache => "loaded from cache".to_string(),
                Origin::Aot(symbol, family) => {
                    format!("built in ahead of time ({family}, {symbol})")
                }
            };
            let path = loaded
                .path
                .as_ref()
                .map(|p| format!(": {}", p.display()))
                .unwrap_or_default();
            eprintln!("tgrad: {how} {} in {:.1} ms{path}", p.name, secs * 1e3);
        }
        let compiled = Arc::new(Compiled {
            program: loaded.program,
            source,
            compile_seconds: secs,
            origin: loaded.origin,
        });
        {
            let mut st = lock(stats_cell());
            match loaded.origin {
                Origin::Cache => st.programs_from_disk += 1,
                Origin::Aot(..) => st.programs_aot += 1,
                Origin::Compiled => {
                    st.programs_compiled += 1;
                    st.compile_seconds += secs;
                }
            }
        }
        let mut programs = lock(&self.programs);
        if programs.len() >= PROGRAM_CACHE_LIMIT {
            // dropping the handles unloads programs no plan or capture still holds
            programs.clear();
        }
        programs.insert(p.signature.clone(), compiled.clone());
        Ok(compiled)
    }

    /// Compile a planned program and bind it to the item's buffers.
    pub fn launch_for(&self, p: &Program, item: &ScheduleItem) -> Result<Launch> {
        Ok(Launch {
            name: p.name.as_str().into(),
            compiled: self.compile(p)?,
            params: p.params.clone().into(),
            bufs: item.bufs.clone(),
            dims: self.launch_dims(p)?,
            flops: p.flops(),
            device: self.device.name(),
            check: Arc::new(LaunchCheck::for_program(p)),
        })
    }

    /// The cached plan for a scheduled kernel, planned and compiled on a miss.
    fn planned(&self, item: &ScheduleItem, flags: PlanFlags) -> Result<Arc<Planned>> {
        let hash = plan_key_hash(&item.kernel, flags);
        let hit = lock(&self.plans).get(&hash).and_then(|v| {
            v.iter()
                .find(|((k, b, n, t, v), _)| (*b, *n, *t, *v) == flags && *k == item.kernel)
                .map(|(_, p)| p.clone())
        });
        if let Some(p) = hit {
            return Ok(p);
        }
        let p = Arc::new(self.plan_and_compile(item)?);
        let mut plans = lock(&self.plans);
        if plans.len() > PLAN_CACHE_LIMIT {
            plans.clear();
        }
        plans.entry(hash).or_default().push((
            (item.kernel.clone(), flags.0, flags.1, flags.2, flags.3),
            p.clone(),
        ));
        Ok(p)
    }

    /// Bind a plan to its buffers.
    fn bind(&self, planned: &Planned, bufs: Vec<Arc<Buffer>>) -> Launch {
        if flags::debug() >= 2 {
            eprintln!("tgrad: {} {}", planned.name, planned.describe);
        }
        Launch {
            name: planned.name.clone(),
            compiled: planned.compiled.clone(),
            params: planned.params.clone(),
            bufs,
            dims: planned.dims,
            flops: planned.flops,
            device: self.device.name(),
            check: planned.check.clone(),
        }
    }

    fn plan_and_compile(&self, item: &ScheduleItem) -> Result<Planned> {
        let mut p = self.plan(&item.kernel)?;
        let width = Flag::Beam.get();
        if width > 0 && matches!(self.target(), Target::Cpu(_)) {
            if let Some(t) = beam::tune(self, item, &p, width as usize)? {
                p = codegen::plan_tuned(&item.kernel, &self.target(), Some(&t))?;
            }
        }
        if flags::debug() >= 3 {
            eprintln!("{}", p.kernel);
            if let Strategy::Loops(l) = &p.strategy {
                eprintln!("{}", codegen::uops::Listing(&l.uops));
            }
        }
        let mut describe = describe(&p);
        if Flag::Verify.get() >= 1 || flags::debug() >= 2 {
            match certify::cert::status(&p) {
                Status::Uncertified(why) if Flag::Verify.get() >= 1 => {
                    return Err(Error::Unsupported(format!(
                        "TGRAD_VERIFY={} refuses {} ({describe}): it has no proof: {why}",
                        Flag::Verify.get(),
                        p.name
                    )));
                }
                Status::Uncertified(why) => describe.push_str(&format!(" | uncertified: {why}")),
                Status::Certified(what) => describe.push_str(&format!(" | {what}")),
            }
        }
        Ok(Planned {
            check: Arc::new(LaunchCheck::for_program(&p)),
            describe,
            flops: p.flops(),
            dims: self.launch_dims(&p)?,
            name: p.name.as_str().into(),
            compiled: self.compile(&p)?,
            params: p.params.into(),
        })
    }

    /// Run a launch. `keep`: whether workspace data derived from the launch's source buffer may
    /// be kept (the buffer cannot have been rewritten since: see `jit::replay`).
    pub fn run(&self, l: &Launch, keep: bool) -> Result<()> {
        run_launch(l, keep)
    }

    /// Realize every root on this engine's device: schedule (or replay a graph seen before,
    /// see `schedule_cache`), then run the kernels in order.
    pub fn realize(&self, roots: &[LazyRef]) -> Result<()> {
        let flags = plan_flags();
        if Flag::Scache.get() == 0 {
            self.run_schedule(schedule(roots)?, flags)?;
            return Ok(());
        }
        let graph = schedule_cache::encode(roots, flags);
        let hit = lock(&self.graphs).get(&graph.key).cloned();
        if let Some(recipe) = hit {
            #[cfg(debug_assertions)]
            {
                let again = schedule_cache::Layout::of(&schedule(roots)?, &graph);
                assert!(
                    again.as_ref() == Some(&recipe.layout),
                    "the schedule cache replays {:?}, but the scheduler gives {again:?}",
                    recipe.layout
                );
            }
            SCHEDULE_CACHE_HITS.fetch_add(1, Ordering::Relaxed);
            return self.replay(&recipe, &graph);
        }
        let sched = schedule(roots)?;
        let layout = schedule_cache::Layout::of(&sched, &graph);
        let plans = self.run_schedule(sched, flags)?;
        if let Some(layout) = layout {
            let mut graphs = lock(&self.graphs);
            if graphs.len() >= schedule_cache::LIMIT {
                graphs.clear();
            }
            graphs.insert(
                graph.key,
                Arc::new(schedule_cache::Recipe { layout, plans }),
            );
        }
        Ok(())
    }

    /// Plan and run a schedule's kernels in order (each planned just before it runs: BEAM
    /// times candidates on the buffers earlier kernels wrote), then mark its nodes realized.
    fn run_schedule(&self, sched: Schedule, flags: PlanFlags) -> Result<Vec<Arc<Planned>>> {
        let mut plans = Vec::with_capacity(sched.items.len());
        for item in sched.items {
            let planned = self.planned(&item, flags)?;
            let launch = self.bind(&planned, item.bufs);
            // buffers are written once, by the kernel that creates them
            run_launch(&launch, true)?;
            jit::record(&launch);
            plans.push(planned);
        }
        if !plans.is_empty() {
            self.device.synchronize()?;
        }
        for (node, buf) in sched.realized {
            node.set_realized(buf);
        }
        Ok(plans)
    }

    /// Run a cached graph's kernels on this graph's buffers, as `run_schedule` would.
    fn replay(
        &self,
        recipe: &schedule_cache::Recipe,
        graph: &schedule_cache::Encoded,
    ) -> Result<()> {
        let fresh = recipe.layout.allocate()?;
        for (planned, slots) in recipe.plans.iter().zip(&recipe.layout.params) {
            let bufs = slots.iter().map(|&s| graph.buffer(s, &fresh)).collect();
            let launch = self.bind(planned, bufs);
            run_launch(&launch, true)?;
            jit::record(&launch);
        }
        if !recipe.plans.is_empty() {
            self.device.synchronize()?;
        }
        for &(node, slot) in &recipe.layout.realized {
            graph.nodes[node as usize].set_realized(graph.buffer(slot, &fresh));
        }
        Ok(())
    }

    /// Plan the kernels `roots` would run, without running them.
    pub fn plan_only(&self, roots: &[LazyRef]) -> Result<Vec<Program>> {
        let sched = schedule(roots)?;
        sched.items.iter().map(|i| self.plan(&i.kernel)).collect()
    }

    /// Forget programs and plans compiled in this process (the disk cache stays).
    pub fn clear_memory_cache(&self) {
        lock(&self.programs).clear();
        lock(&self.plans).clear();
        lock(&self.graphs).clear();
    }
}

/// (BEAM, NOOPT, threads, VERIFY): the flags a plan depends on.
type PlanFlags = (i64, i64, usize, i64);

fn plan_flags() -> PlanFlags {
    (
        Flag::Beam.get(),
        Flag::NoOpt.get(),
        flags::threads(),
        Flag::Verify.get(),
    )
}

fn plan_key_hash(k: &Kernel, flags: PlanFlags) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::fxhash::FxHasher::default();
    k.hash(&mut h);
    flags.hash(&mut h);
    h.finish()
}

/// What TGRAD_DEBUG=2 prints about a plan.
pub fn describe(p: &Program) -> String {
    match &p.strategy {
        Strategy::Gemm(g) => {
            let c = &g.c;
            let sizes = format!("gemm M={} N={} K={} batch={}", c.m, c.n, c.k, c.batch);
            match &g.schedule {
                codegen::GemmSchedule::Cpu(cpu) => format!(
                    "{sizes} MR={} NR={} VW={} KC={} MC={} NC={} {} {:?} threads={} chunks(m,n)=({},{})",
                    cpu.opts.mr,
                    cpu.opts.nr,
                    cpu.opts.vw,
                    cpu.kc,
                    cpu.mc,
                    cpu.nc,
                    cpu.packing.name(),
                    cpu.parallel,
                    cpu.threads,
                    cpu.mchunks,
                    cpu.nchunks
                ),
                codegen::GemmSchedule::Gpu(t) => format!("{sizes} tile {}", t.signature()),
            }
        }
        Strategy::Loops(l) => format!(
            "loops full={:?} reduce={:?} uops={} threads={}",
            p.kernel.full_shape,
            p.kernel.reduce_axes,
            l.uops.len(),
            l.threads
        ),
    }
}

/// Run without debug output or counting (BEAM's timing runs).
pub fn launch_quiet(l: &Launch) -> Result<()> {
    l.check.check(&l.name, &l.params, &l.bufs, &l.dims)?;
    let keep = Flag::KeepPacked.get() != 0;
    l.compiled
        .program
        .launch(&l.params, &l.bufs, &l.dims, keep)
        .map(|_| ())
}

fn run_launch(l: &Launch, keep: bool) -> Result<()> {
    l.check.check(&l.name, &l.params, &l.bufs, &l.dims)?;
    let dbg = flags::debug();
    let t0 = (dbg >= 1).then(Instant::now);
    let kept = l.compiled.program.launch(
        &l.params,
        &l.bufs,
        &l.dims,
        keep && Flag::KeepPacked.get() != 0,
    )?;
    let n = KERNELS_RUN.fetch_add(1, Ordering::Relaxed) + 1;
    if let Some(t0) = t0 {
        let us = t0.elapsed().as_secs_f64() * 1e6;
        let kept = if kept { " (packed B kept)" } else { "" };
        eprintln!(
            "*** {:<4} {n:6} {:<28} arg {:2} tm {us:10.2}us {:9.2} GFLOPS{kept}",
            l.device,
            l.name,
            l.bufs.len(),
            l.flops / us / 1e3
        );
    }
    Ok(())
}

pub(crate) fn note_beam(searched: bool, secs: f64, rejected: u64) {
    let mut st = lock(stats_cell());
    if searched {
        st.beam_searches += 1;
        st.beam_seconds += secs;
        st.beam_rejected += rejected;
    } else {
        st.beam_cache_hits += 1;
    }
}

/// Realize every root on the process's device.
pub fn realize(roots: &[LazyRef]) -> Result<()> {
    current()?.realize(roots)
}

/// Plan the kernels `roots` would run on the process's device.
pub fn plan_only(roots: &[LazyRef]) -> Result<Vec<Program>> {
    current()?.plan_only(roots)
}

/// The source a program renders to (by its target's renderer).
pub fn render(p: &Program) -> String {
    render::for_target(&p.target).render(p)
}

/// Forget programs compiled in this process (the disk cache stays); for tests of the cache.
pub fn clear_memory_cache() {
    if let Ok(e) = current() {
        e.clear_memory_cache();
    }
    cpu().clear_memory_cache();
}

pub fn set_flag(name: &str, value: i64) -> Result<i64> {
    Flag::from_name(name)?.set(value)
}
