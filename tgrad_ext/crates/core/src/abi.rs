//! The kernel ABI: how a compiled kernel is called and what it reads. Codegen writes these
//! structures, the renderers emit their C declarations by name, and the runtime reads them.
//! A leaf: nothing here imports a pipeline stage.
//!
//! - Every kernel's buffer 0 is its output; the others are inputs, read only.
//! - A CPU kernel is `void tgrad_kernel(const int64_t* p, char** bufs, char* ws, int64_t tid,
//!   int64_t nth)` ([`KernelFn`]): `p` points at the parameter words, `bufs` holds one pointer per
//!   buffer and then the shared workspace, `ws` is the calling thread's private workspace.
//! - A GPU kernel takes the parameter words (a device pointer) and then one pointer per buffer.
//! - The parameter words are a [`GemmParams`] or a [`LoopParams`], all int64, declared in the
//!   rendered source as `tg_gemm_params` / `tg_loop_params` (see [`c_declarations`]). Both end
//!   with the kernel's constants (`c[]`, see [`const_word`]), so one program serves every value
//!   of a constant.

/// The symbol every rendered program exports.
pub const ENTRY: &str = "tgrad_kernel";

/// A CPU kernel: `(params, buffers + shared workspace, private workspace, thread id, threads)`.
pub type KernelFn = unsafe extern "C" fn(*const i64, *const *mut u8, *mut u8, i64, i64);

/// The most batch dims a GEMM keeps apart (more are never planned as a GEMM).
pub const MAX_BATCH: usize = 4;

/// Bytes at the start of the shared workspace reserved for the kernel's barrier (two counters a
/// cache line apart, at words [`BARRIER_WORD`] and `BARRIER_WORD + 8`) and, on a third line, the
/// counter threads claim GEMM chunks from (word [`CLAIM_WORD`]). Zeroed before every launch.
pub const SHARED_HEADER: usize = 192;
pub const BARRIER_WORD: usize = 0;
pub const CLAIM_WORD: usize = 16;

/// Workspace regions of a CPU GEMM, for checked builds that give each its own exact-size
/// allocation (a design: the template does not read this table yet, so TGRAD_VERIFY=2 allocates
/// each whole workspace exactly instead). Today the template derives every region from one
/// pointer (`ap = ws`, `bp = ws + round64(MCR*KC*E)`, `(TG_ACC*)ws` for the vector path;
/// `sh + TG_SHARED_HEADER` for Barrier's panel, Shared's flags and packed B after them), so an
/// access running from one region into the next stays inside one allocation, where
/// AddressSanitizer cannot see it. With the table, the host passes `bufs[nbufs + 1]`: a
/// `char* regions[threads + 1][WS_REGIONS]` it fills per launch, and the template reads
/// `char** wr = ((char***)bufs)[TG_NBUFS + 1][tid]; TG_ACC* ap = (TG_ACC*)wr[TG_WS_A];`
/// (`bp` from `TG_WS_B`, the vector path's row from `TG_WS_Y`, and in `tg_barrier_gemm` /
/// `tg_shared_gemm` the shared `..[nth][TG_SH_B]` and `..[nth][TG_SH_FLAGS]`; the header with
/// the barrier and claim counter stays at `bufs[TG_NBUFS]`). Normal launches fill the table with
/// today's offsets into the one workspace (same memory, same speed); checked launches allocate
/// each region alone, of the size `CpuGemm::scratch` would give it (`Scratch` then lists the
/// region sizes instead of two totals).
pub const WS_REGIONS: [&str; 5] = ["TG_WS_A", "TG_WS_B", "TG_WS_Y", "TG_SH_B", "TG_SH_FLAGS"];

/// Who must run a CPU job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Join {
    /// Every thread index in `0..n` runs exactly once (loops split by thread index, GEMMs whose
    /// threads meet at barriers).
    Every,
    /// Index 0 runs on the caller and can finish the job alone; indices `1..n` run only on
    /// workers that arrive before it has (the kernel claims its work from a shared counter).
    Helpers,
}

/// Workspace memory a CPU launch needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scratch {
    /// Bytes private to each thread (packed blocks of A and B).
    pub per_thread: usize,
    /// Bytes of the workspace all threads share, after `SHARED_HEADER`.
    pub shared: usize,
    /// Bytes after `SHARED_HEADER` zeroed before a launch (claim flags); at most `shared`.
    pub shared_zeroed: usize,
    /// The shared bytes are derived from this buffer alone (a packed copy of it). Buffers never
    /// change once written, so the next launch of the same program with equal parameters and the
    /// same buffer (by id) keeps them, flags included, and skips the packing they record.
    pub derived_from: Option<usize>,
}

/// How a program is launched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LaunchDims {
    /// On the CPU's worker pool.
    Cpu {
        threads: usize,
        join: Join,
        scratch: Scratch,
    },
    /// A grid of blocks (CUDA) or threadgroups (Metal): `grid` blocks of `block` threads with
    /// `shared_bytes` of dynamic shared memory each.
    Grid {
        grid: [u32; 3],
        block: [u32; 3],
        shared_bytes: u32,
    },
}

/// A `#[repr(C)]` struct of int64 words with its C declaration, generated from one field list so
/// the two cannot disagree.
macro_rules! abi_struct {
    ($(#[$m:meta])* $name:ident = $cname:literal { $($(#[$fm:meta])* $field:ident $([$n:expr])?),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name { $($(#[$fm])* pub $field: abi_struct!(@ty $($n)?)),* }

        impl $name {
            /// (name, words) of every field, in order.
            pub const FIELDS: &'static [(&'static str, usize)] =
                &[$((stringify!($field), abi_struct!(@len $($n)?))),*];
            pub const WORDS: usize = 0 $(+ abi_struct!(@len $($n)?))*;
            pub const C_NAME: &'static str = $cname;

            pub fn push_words(&self, out: &mut Vec<i64>) {
                $(abi_struct!(@push self.$field, out $(, $n)?);)*
            }

            /// Read the struct back from `WORDS` words.
            pub fn from_words(w: &[i64]) -> Option<$name> {
                if w.len() < Self::WORDS {
                    return None;
                }
                let mut at = 0usize;
                let mut s = $name::default();
                $(abi_struct!(@read s.$field, w, at $(, $n)?);)*
                let _ = at;
                Some(s)
            }
        }
    };
    (@ty) => { i64 };
    (@ty $n:expr) => { [i64; $n] };
    (@len) => { 1 };
    (@len $n:expr) => { $n };
    (@push $f:expr, $out:ident) => { $out.push($f) };
    (@push $f:expr, $out:ident, $n:expr) => { $out.extend_from_slice(&$f) };
    (@read $f:expr, $w:ident, $at:ident) => {{ $f = $w[$at]; $at += 1; }};
    (@read $f:expr, $w:ident, $at:ident, $n:expr) => {{ $f.copy_from_slice(&$w[$at..$at + $n]); $at += $n; }};
}

abi_struct! {
    /// Sizes and CPU blocking of a GEMM `C[b] = epilogue(A[b] @ B[b])` over `batch` matrices.
    GemmHeader = "tg_gemm_header" {
        m, n, k,
        /// Matrices in the batch (the product of `batch_dims`).
        batch,
        /// The batch dims, right-aligned (unused leading dims are 1).
        batch_dims[MAX_BATCH],
        /// CPU: the grid of chunks per batch index (M ranges x N ranges) threads claim.
        mchunks, nchunks,
        /// CPU: BLIS block sizes.
        kc, mc, nc,
        /// CPU: which operands are packed (`Packing::code`).
        packing,
        /// CPU: how threads share the work (`Parallel::code`).
        parallel,
    }
}

abi_struct! {
    /// Where one GEMM operand's elements are: element (b, i, j, l) of operand `o` is at
    /// `offset + i*sm + j*sn + l*sk + sum_d bidx[d]*sb[d]` (m index i, n index j, k index l).
    /// Operands are the output, A, B, then the epilogue's loads in pre-order.
    OperandParams = "tg_operand" {
        offset, sm, sn, sk,
        sb[MAX_BATCH],
    }
}

/// The word holding a constant of `dtype` (its value rounded to the dtype first): the bits of
/// an f64 for double, of an f32 for half and float (zero-extended), the value for int.
pub fn const_word(value: f64, dtype: crate::dtype::DType) -> i64 {
    use crate::dtype::{f16_bits_to_f32, f32_to_f16_bits, DType};
    match dtype {
        DType::F64 => value.to_bits() as i64,
        DType::F32 => i64::from((value as f32).to_bits()),
        DType::F16 => i64::from(f16_bits_to_f32(f32_to_f16_bits(value as f32)).to_bits()),
        DType::I32 => i64::from(value as i64 as i32),
        DType::Bool => i64::from(value != 0.0),
    }
}

/// Stored arrays have at least one element (C has no zero-length arrays).
fn stored(n: usize) -> usize {
    n.max(1)
}

/// `w` with the constants appended (at least one word).
fn push_consts(w: &mut Vec<i64>, consts: &[i64]) {
    w.extend(consts);
    w.resize(w.len() + stored(consts.len()) - consts.len(), 0);
}

/// A GEMM's parameter words: the header, one [`OperandParams`] per operand, then the constants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GemmParams {
    pub header: GemmHeader,
    pub operands: Vec<OperandParams>,
    pub consts: Vec<i64>,
}

impl GemmParams {
    pub fn words(&self) -> Vec<i64> {
        let mut w = Vec::with_capacity(
            GemmHeader::WORDS
                + self.operands.len() * OperandParams::WORDS
                + stored(self.consts.len()),
        );
        self.header.push_words(&mut w);
        for o in &self.operands {
            o.push_words(&mut w);
        }
        push_consts(&mut w, &self.consts);
        w
    }

    /// Read back the words of a GEMM with `operands` operands and `consts` constants.
    pub fn from_words(w: &[i64], operands: usize, consts: usize) -> Option<GemmParams> {
        let header = GemmHeader::from_words(w)?;
        let ops_end = GemmHeader::WORDS + operands * OperandParams::WORDS;
        if w.len() != ops_end + stored(consts) {
            return None;
        }
        let operands = w[GemmHeader::WORDS..ops_end]
            .chunks(OperandParams::WORDS)
            .map(OperandParams::from_words)
            .collect::<Option<Vec<_>>>()?;
        Some(GemmParams {
            header,
            operands,
            consts: w[ops_end..ops_end + consts].to_vec(),
        })
    }
}

/// A loop program's parameter words: the full shape, then per view (the output first, then every
/// load in order) its offset and strides, then the constants. Rank 0 is stored as rank 1 of size
/// 1, so every array in the C declaration has at least one element.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoopParams {
    pub shape: Vec<i64>,
    pub views: Vec<ViewParams>,
    pub consts: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ViewParams {
    pub offset: i64,
    pub strides: Vec<i64>,
}

impl LoopParams {
    /// The rank of the stored arrays.
    pub fn stored_rank(rank: usize) -> usize {
        stored(rank)
    }

    pub fn words(&self) -> Vec<i64> {
        let r = Self::stored_rank(self.shape.len());
        let pad = |v: &[i64], fill: i64| {
            let mut x = v.to_vec();
            x.resize(r, fill);
            x
        };
        let mut w = pad(&self.shape, 1);
        for v in &self.views {
            w.push(v.offset);
            w.extend(pad(&v.strides, 0));
        }
        push_consts(&mut w, &self.consts);
        w
    }

    /// Read back the words of a program of `rank` with `views` views and `consts` constants.
    pub fn from_words(w: &[i64], rank: usize, views: usize, consts: usize) -> Option<LoopParams> {
        let r = Self::stored_rank(rank);
        let views_end = r + views * (1 + r);
        if w.len() != views_end + stored(consts) {
            return None;
        }
        Some(LoopParams {
            shape: w[..rank].to_vec(),
            views: (0..views)
                .map(|k| {
                    let at = r + k * (1 + r);
                    ViewParams {
                        offset: w[at],
                        strides: w[at + 1..at + 1 + rank].to_vec(),
                    }
                })
                .collect(),
            consts: w[views_end..views_end + consts].to_vec(),
        })
    }
}

/// Names the rendered source uses for the ABI's structs and constants.
pub const GEMM_PARAMS_C: &str = "tg_gemm_params";
pub const LOOP_PARAMS_C: &str = "tg_loop_params";
pub const VIEW_C: &str = "tg_view";

fn c_fields(fields: &[(&str, usize)], int: &str) -> String {
    fields
        .iter()
        .map(|(f, n)| {
            if *n == 1 {
                format!(" {int} {f};")
            } else {
                format!(" {int} {f}[{n}];")
            }
        })
        .collect()
}

/// The C declarations of a program's parameter struct, for a backend whose 64-bit integer type
/// is `int` (`int64_t`, `long long`, `long`): a GEMM with `operands` operands, or a loop program
/// of `rank` with `views` views; both with `consts` constants.
pub fn c_declarations(int: &str, params: &ParamsShape) -> String {
    match *params {
        ParamsShape::Gemm { operands, consts } => format!(
            "typedef struct {{{}}} {};\ntypedef struct {{{} {} op[{operands}]; {int} c[{}];}} {GEMM_PARAMS_C};\n",
            c_fields(OperandParams::FIELDS, int),
            OperandParams::C_NAME,
            c_fields(GemmHeader::FIELDS, int),
            OperandParams::C_NAME,
            stored(consts),
        ),
        ParamsShape::Loop {
            rank,
            views,
            consts,
        } => {
            let r = LoopParams::stored_rank(rank);
            format!(
                "typedef struct {{ {int} offset; {int} st[{r}]; }} {VIEW_C};\n\
                 typedef struct {{ {int} n[{r}]; {VIEW_C} v[{views}]; {int} c[{}]; }} {LOOP_PARAMS_C};\n",
                stored(consts)
            )
        }
    }
}

/// What a program's parameter struct looks like (what `c_declarations` needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamsShape {
    Gemm {
        operands: usize,
        consts: usize,
    },
    Loop {
        rank: usize,
        views: usize,
        consts: usize,
    },
}

/// The workspace constants as C definitions (CPU GEMMs read them).
pub fn c_workspace_constants() -> String {
    format!(
        "#define TG_SHARED_HEADER {SHARED_HEADER}\n#define TG_BARRIER_WORD {BARRIER_WORD}\n#define TG_CLAIM_WORD {CLAIM_WORD}\n#define TG_MAX_BATCH {MAX_BATCH}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_are_their_words_and_round_trip() {
        assert_eq!(std::mem::size_of::<GemmHeader>(), GemmHeader::WORDS * 8);
        assert_eq!(
            std::mem::size_of::<OperandParams>(),
            OperandParams::WORDS * 8
        );
        let p = GemmParams {
            header: GemmHeader {
                m: 3,
                n: 4,
                k: 5,
                batch: 6,
                batch_dims: [1, 1, 2, 3],
                kc: 7,
                ..GemmHeader::default()
            },
            operands: vec![
                OperandParams {
                    offset: 9,
                    sb: [0, 0, 1, 2],
                    ..OperandParams::default()
                };
                3
            ],
            consts: vec![7, -8],
        };
        let w = p.words();
        assert_eq!(w.len(), GemmHeader::WORDS + 3 * OperandParams::WORDS + 2);
        assert_eq!(w[4..8], [1, 1, 2, 3]);
        assert_eq!(GemmParams::from_words(&w, 3, 2), Some(p));
        let l = LoopParams {
            shape: vec![],
            views: vec![ViewParams {
                offset: 2,
                strides: vec![],
            }],
            consts: vec![],
        };
        assert_eq!(l.words(), vec![1, 2, 0, 0]);
        assert_eq!(LoopParams::from_words(&l.words(), 0, 1, 0), Some(l));
        assert_eq!(
            const_word(0.1, crate::dtype::DType::F32),
            i64::from(0.1f32.to_bits())
        );
    }

    #[test]
    fn c_declarations_name_every_field() {
        let d = c_declarations(
            "int64_t",
            &ParamsShape::Gemm {
                operands: 4,
                consts: 0,
            },
        );
        for (f, _) in GemmHeader::FIELDS.iter().chain(OperandParams::FIELDS) {
            assert!(d.contains(&format!(" {f}")), "{f} in {d}");
        }
        assert!(d.contains("int64_t batch_dims[4];") && d.contains("tg_operand op[4];"));
        assert!(d.contains("tg_operand op[4]; int64_t c[1];"), "{d}");
        let l = c_declarations(
            "long",
            &ParamsShape::Loop {
                rank: 0,
                views: 2,
                consts: 3,
            },
        );
        assert!(
            l.contains("long n[1];") && l.contains("tg_view v[2]; long c[3];"),
            "{l}"
        );
    }
}
