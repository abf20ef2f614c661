#include <stdint.h>
#include <stddef.h>
static inline int64_t tg_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline float tg_f32_bits(int32_t b) { union { int32_t i; float f; } u = { b }; return u.f; }
static inline double tg_f64_bits(int64_t b) { union { int64_t i; double d; } u = { b }; return u.d; }
/* r_256_1024_1024 : gemm|cpu/avx2+fma/2t|vw8mr6nr16|packed|acc:float|a1:float|b2:float|out:float|relu(add(ACC,L3:float)) */
typedef struct { int64_t offset; int64_t sm; int64_t sn; int64_t sk; int64_t sb[4];} tg_operand;
typedef struct { int64_t m; int64_t n; int64_t k; int64_t batch; int64_t batch_dims[4]; int64_t mchunks; int64_t nchunks; int64_t kc; int64_t mc; int64_t nc; int64_t packing; int64_t parallel; tg_operand op[4]; int64_t c[1];} tg_gemm_params;
#define TG_SHARED_HEADER 192
#define TG_BARRIER_WORD 0
#define TG_CLAIM_WORD 16
#define TG_MAX_BATCH 4
#define MR 6
#define NR 16
#define VW 8
#define TG_ACC float
#define TG_TA float
#define TG_TB float
#define TG_TC float
#define TG_LOAD_A(x) ((float)(x))
#define TG_LOAD_B(x) ((float)(x))
#define TG_STORE_C(x) (x)
#define TG_ABUF 1
#define TG_BBUF 2
#define TG_NBUFS 4
#define TG_TR8 1
#define TG_VECTOR_PATH 1
#define TG_A_INPLACE 0
#define TG_B_INPLACE 0
#define TG_PACKING_BOTH 0
#define TG_PACKING_NEITHER 1
#define TG_PARALLEL_BARRIER 1
#define TG_PARALLEL_SHARED 2
#define TG_PREFETCH_NEXT_MAX_BYTES 196608
#define TG_LONG_K 65536
#define TG_SHARED_LOOKAHEAD 4
#define TG_PREFETCH_LINES 16
#define TG_COLD_C_BYTES 2097152
typedef float tg_v __attribute__((vector_size(32)));
typedef float tg_vu __attribute__((vector_size(32), aligned(4)));
typedef int32_t tg_vi __attribute__((vector_size(32)));
static inline tg_v tg_vrelu(tg_v x) { return (tg_v)((tg_vi)(x > 0) & (tg_vi)x); }
static inline tg_v tg_vmax(tg_v a, tg_v b) { tg_vi m = (tg_vi)(a > b); return (tg_v)((m & (tg_vi)a) | (~m & (tg_vi)b)); }
typedef float tg_f8 __attribute__((vector_size(32)));
typedef float tg_f8u __attribute__((vector_size(32), aligned(4)));
typedef float tg_a8u __attribute__((vector_size(32), aligned(4)));
static inline tg_f8 tg_a8_to_f8(tg_a8u x) { return x; }
typedef struct {
  const float* p0; int64_t sm0, sn0;
  int vec_ok, c_cold;
} tg_epi;
static inline void tg_epi_init(tg_epi* e, const tg_gemm_params* P, char** bufs, const int64_t* bidx) {
  (void)P; (void)bufs; (void)bidx;
  e->vec_ok = 1;
  e->c_cold = P->batch * P->m * P->n * (int64_t)sizeof(TG_TC) > TG_COLD_C_BYTES;
  e->p0 = (const float*)bufs[3] + P->op[3].offset + bidx[0]*P->op[3].sb[0] + bidx[1]*P->op[3].sb[1] + bidx[2]*P->op[3].sb[2] + bidx[3]*P->op[3].sb[3]; e->sm0 = P->op[3].sm; e->sn0 = P->op[3].sn; e->vec_ok &= (e->sn0 == 0 || e->sn0 == 1);
}
static inline float tg_epilogue(const tg_epi* e, float x, int64_t m, int64_t n) {
  (void)e; (void)m; (void)n;
  return ((x + e->p0[m*e->sm0 + n*e->sn0]) > 0 ? (x + e->p0[m*e->sm0 + n*e->sn0]) : 0); /* @tg:epi.load */
}
static inline __attribute__((always_inline)) void ukr(int64_t kc, const float* restrict a, int64_t lda, const float* restrict b, int64_t ldb, float* restrict c, int64_t csm, int64_t csn, int64_t mr, int64_t nr, int first, int last, const tg_epi* e, int64_t m, int64_t n) {
  (void)lda; (void)ldb;
  tg_v c0_0 = {0}, c0_1 = {0}, c1_0 = {0}, c1_1 = {0}, c2_0 = {0}, c2_1 = {0}, c3_0 = {0}, c3_1 = {0}, c4_0 = {0}, c4_1 = {0}, c5_0 = {0}, c5_1 = {0};
  if (!first || e->c_cold) for (int r = 0; r < 6; r++) for (int v = 0; v < 2; v++) __builtin_prefetch(c + r*csm + v*VW*csn, 1);
  for (int64_t k = 0; k < kc; k++, a += MR, b += NR) {
    const tg_v b0 = *(const tg_v*)(b + 0); /* @tg:ukr.b */
    const tg_v b1 = *(const tg_v*)(b + 8); /* @tg:ukr.b */
    { const float a0 = a[0]; c0_0 += a0 * b0; c0_1 += a0 * b1; } /* @tg:ukr.a */
    { const float a1 = a[1]; c1_0 += a1 * b0; c1_1 += a1 * b1; } /* @tg:ukr.a */
    { const float a2 = a[2]; c2_0 += a2 * b0; c2_1 += a2 * b1; } /* @tg:ukr.a */
    { const float a3 = a[3]; c3_0 += a3 * b0; c3_1 += a3 * b1; } /* @tg:ukr.a */
    { const float a4 = a[4]; c4_0 += a4 * b0; c4_1 += a4 * b1; } /* @tg:ukr.a */
    { const float a5 = a[5]; c5_0 += a5 * b0; c5_1 += a5 * b1; } /* @tg:ukr.a */
  }
  if (mr == MR && nr == NR && csn == 1 && e->vec_ok) {
    { tg_v x = c0_0; float* cp = c + 0*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 0, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    { tg_v x = c0_1; float* cp = c + 0*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 0, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    { tg_v x = c1_0; float* cp = c + 1*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 1, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    { tg_v x = c1_1; float* cp = c + 1*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 1, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    { tg_v x = c2_0; float* cp = c + 2*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 2, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    { tg_v x = c2_1; float* cp = c + 2*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 2, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    { tg_v x = c3_0; float* cp = c + 3*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 3, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    { tg_v x = c3_1; float* cp = c + 3*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 3, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    { tg_v x = c4_0; float* cp = c + 4*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 4, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    { tg_v x = c4_1; float* cp = c + 4*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 4, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    { tg_v x = c5_0; float* cp = c + 5*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 5, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    { tg_v x = c5_1; float* cp = c + 5*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 5, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; } /* @tg:ukr.vc @tg:epi.vload */
    return;
  }
  float t[MR*NR] __attribute__((aligned(64)));
  *(tg_v*)(t + 0) = c0_0; /* @tg:ukr.spill */
  *(tg_v*)(t + 8) = c0_1; /* @tg:ukr.spill */
  *(tg_v*)(t + 16) = c1_0; /* @tg:ukr.spill */
  *(tg_v*)(t + 24) = c1_1; /* @tg:ukr.spill */
  *(tg_v*)(t + 32) = c2_0; /* @tg:ukr.spill */
  *(tg_v*)(t + 40) = c2_1; /* @tg:ukr.spill */
  *(tg_v*)(t + 48) = c3_0; /* @tg:ukr.spill */
  *(tg_v*)(t + 56) = c3_1; /* @tg:ukr.spill */
  *(tg_v*)(t + 64) = c4_0; /* @tg:ukr.spill */
  *(tg_v*)(t + 72) = c4_1; /* @tg:ukr.spill */
  *(tg_v*)(t + 80) = c5_0; /* @tg:ukr.spill */
  *(tg_v*)(t + 88) = c5_1; /* @tg:ukr.spill */
  for (int64_t i = 0; i < mr; i++) for (int64_t j = 0; j < nr; j++) {
    float* cp = c + i*csm + j*csn; float x = t[i*NR + j]; if (!first) x += *cp; (void)first; /* @tg:ukr.t */
    if (last) x = tg_epilogue(e, x, m + i, n + j);
    *cp = x; /* @tg:ukr.c */
  }
}
static __attribute__((noinline)) void ukr_h(int64_t kc, const float* restrict a, int64_t lda, const float* restrict b, int64_t ldb, float* restrict c, int64_t csm, int64_t csn, int64_t mr, int64_t nr, int first, int last, const tg_epi* e, int64_t m, int64_t n) {
  (void)lda; (void)ldb;
  tg_v c0_0 = {0}, c0_1 = {0}, c1_0 = {0}, c1_1 = {0}, c2_0 = {0}, c2_1 = {0};
  if (!first || e->c_cold) for (int r = 0; r < 3; r++) for (int v = 0; v < 2; v++) __builtin_prefetch(c + r*csm + v*VW*csn, 1);
  for (int64_t k = 0; k < kc; k++, a += MR, b += NR) {
    const tg_v b0 = *(const tg_v*)(b + 0); /* @tg:ukr_h.b */
    const tg_v b1 = *(const tg_v*)(b + 8); /* @tg:ukr_h.b */
    { const float a0 = a[0]; c0_0 += a0 * b0; c0_1 += a0 * b1; } /* @tg:ukr_h.a */
    { const float a1 = a[1]; c1_0 += a1 * b0; c1_1 += a1 * b1; } /* @tg:ukr_h.a */
    { const float a2 = a[2]; c2_0 += a2 * b0; c2_1 += a2 * b1; } /* @tg:ukr_h.a */
  }
  float t[MR*NR] __attribute__((aligned(64)));
  *(tg_v*)(t + 0) = c0_0; /* @tg:ukr_h.spill */
  *(tg_v*)(t + 8) = c0_1; /* @tg:ukr_h.spill */
  *(tg_v*)(t + 16) = c1_0; /* @tg:ukr_h.spill */
  *(tg_v*)(t + 24) = c1_1; /* @tg:ukr_h.spill */
  *(tg_v*)(t + 32) = c2_0; /* @tg:ukr_h.spill */
  *(tg_v*)(t + 40) = c2_1; /* @tg:ukr_h.spill */
  for (int64_t i = 0; i < mr; i++) for (int64_t j = 0; j < nr; j++) {
    float* cp = c + i*csm + j*csn; float x = t[i*NR + j]; if (!first) x += *cp; (void)first; /* @tg:ukr_h.t */
    if (last) x = tg_epilogue(e, x, m + i, n + j);
    *cp = x; /* @tg:ukr_h.c */
  }
}
static __attribute__((noinline)) void ukr_n(int64_t kc, const float* restrict a, int64_t lda, const float* restrict b, int64_t ldb, float* restrict c, int64_t csm, int64_t csn, int64_t mr, int64_t nr, int first, int last, const tg_epi* e, int64_t m, int64_t n) {
  (void)lda; (void)ldb;
  tg_v c0_0 = {0}, c1_0 = {0}, c2_0 = {0}, c3_0 = {0}, c4_0 = {0}, c5_0 = {0};
  if (!first || e->c_cold) for (int r = 0; r < 6; r++) for (int v = 0; v < 1; v++) __builtin_prefetch(c + r*csm + v*VW*csn, 1);
  for (int64_t k = 0; k < kc; k++, a += MR, b += NR) {
    const tg_v b0 = *(const tg_v*)(b + 0); /* @tg:ukr_n.b */
    { const float a0 = a[0]; c0_0 += a0 * b0; } /* @tg:ukr_n.a */
    { const float a1 = a[1]; c1_0 += a1 * b0; } /* @tg:ukr_n.a */
    { const float a2 = a[2]; c2_0 += a2 * b0; } /* @tg:ukr_n.a */
    { const float a3 = a[3]; c3_0 += a3 * b0; } /* @tg:ukr_n.a */
    { const float a4 = a[4]; c4_0 += a4 * b0; } /* @tg:ukr_n.a */
    { const float a5 = a[5]; c5_0 += a5 * b0; } /* @tg:ukr_n.a */
  }
  float t[MR*NR] __attribute__((aligned(64)));
  *(tg_v*)(t + 0) = c0_0; /* @tg:ukr_n.spill */
  *(tg_v*)(t + 16) = c1_0; /* @tg:ukr_n.spill */
  *(tg_v*)(t + 32) = c2_0; /* @tg:ukr_n.spill */
  *(tg_v*)(t + 48) = c3_0; /* @tg:ukr_n.spill */
  *(tg_v*)(t + 64) = c4_0; /* @tg:ukr_n.spill */
  *(tg_v*)(t + 80) = c5_0; /* @tg:ukr_n.spill */
  for (int64_t i = 0; i < mr; i++) for (int64_t j = 0; j < nr; j++) {
    float* cp = c + i*csm + j*csn; float x = t[i*NR + j]; if (!first) x += *cp; (void)first; /* @tg:ukr_n.t */
    if (last) x = tg_epilogue(e, x, m + i, n + j);
    *cp = x; /* @tg:ukr_n.c */
  }
}
static inline __attribute__((always_inline)) void tg_ukr(int64_t kc, const float* restrict a, int64_t lda, const float* restrict b, int64_t ldb, float* restrict c, int64_t csm, int64_t csn, int64_t mr, int64_t nr, int first, int last, const tg_epi* e, int64_t m, int64_t n) {
  if (mr <= 3) ukr_h(kc, a, lda, b, ldb, c, csm, csn, mr, nr, first, last, e, m, n);
  else if (nr <= 8) ukr_n(kc, a, lda, b, ldb, c, csm, csn, mr, nr, first, last, e, m, n);
  else ukr(kc, a, lda, b, ldb, c, csm, csn, mr, nr, first, last, e, m, n);
}
/* CPU GEMM, static part: spinning, the barrier of Parallel::Barrier GEMMs, and the prefetch
   cursor over the operands of the chunk a thread takes next. Rendered after the generated
   header (tg_gemm.h: types, tile constants, the ABI structs). */
#ifndef TG_SYNC_C
#define TG_SYNC_C
#include <sched.h>

static inline void tg_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* One step of a wait on another thread: a pause while the wait is short, then a yield of the
   core, so a launch with more threads than cores (whose peers may not be running) still
   progresses at scheduling speed instead of spinning out its time slices. */
#define TG_SPIN_PAUSES 2048
static inline int tg_wait(int spins) {
  if (spins < TG_SPIN_PAUSES) { tg_pause(); return spins + 1; }
  sched_yield();
  return spins;
}

/* Two counters a cache line apart at word TG_BARRIER_WORD of the shared workspace (zeroed by
   the host before every launch): arrivals, and the generation the last arrival bumps. */
static inline void tg_barrier(int64_t* bar, int64_t nth) {
  const int64_t gen = __atomic_load_n(&bar[8], __ATOMIC_ACQUIRE); /* @tg:barrier.gen */
  if (__atomic_add_fetch(&bar[0], 1, __ATOMIC_ACQ_REL) == nth) { /* @tg:barrier.arrive */
    __atomic_store_n(&bar[0], 0, __ATOMIC_RELAXED); /* @tg:barrier.reset */
    __atomic_store_n(&bar[8], gen + 1, __ATOMIC_RELEASE); /* @tg:barrier.bump */
  } else {
    int spins = 0;
    while (__atomic_load_n(&bar[8], __ATOMIC_ACQUIRE) == gen) spins = tg_wait(spins); /* @tg:barrier.wait */
  }
}

/* Each microkernel call prefetches a few lines of the next chunk's operands into L2, so the
   prefetches spread over the chunk instead of flooding the memory queue. */
typedef struct { const char* a; const char* a_end; const char* b; const char* b_end; } tg_pf;
static inline void tg_pf_step(tg_pf* f) {
  for (int i = 0; i < TG_PREFETCH_LINES; i++) {
    if (f->a < f->a_end) { __builtin_prefetch(f->a, 0, 2); f->a += 64; }
    else if (f->b < f->b_end) { __builtin_prefetch(f->b, 0, 2); f->b += 64; }
    else return;
  }
}

/* Element offset of operand `o` at batch index `bi` (abi::OperandParams). */
static inline int64_t tg_off(const tg_operand* o, const int64_t* bi) {
  int64_t r = o->offset;
  for (int d = 0; d < TG_MAX_BATCH; d++) r += bi[d] * o->sb[d]; /* @tg:off.batch */
  return r;
}

/* Batch index `b` unravelled over the (right-aligned) batch dims. */
static inline void tg_batch_index(const tg_gemm_params* P, int64_t b, int64_t* bi) {
  for (int d = TG_MAX_BATCH - 1; d >= 0; d--) { bi[d] = b % P->batch_dims[d]; b /= P->batch_dims[d]; } /* @tg:batch_index.digit */
}
#endif /* TG_SYNC_C */
/* CPU GEMM, static part: packing A into MR-row micro-panels and B into NR-column micro-panels
   (zero-padded at the edges), and the on-demand packing of Parallel::Shared. */
#ifndef TG_PACK_C
#define TG_PACK_C

#if TG_TR8
/* Full MR-row panels of A (contiguous along k) with 8x8 register transposes: each group of 8
   rows (rows past MR repeat row 0) loads 8 columns, widened to 8 floats per row (`tg_a8_to_f8`:
   a plain load for f32 A, one F16C conversion for half A), transposes them in registers, and
   stores each column's 8 floats: per 64 values 8 loads, 24 shuffles and 8 stores replace 64
   strided scalar stores (and 64 scalar conversions of a half A). Rendered where 4 <= MR <= 16:
   the last group's 8-wide stores run up to 7 floats past each column into the next column's
   head (at most MR floats, so the panel's last full group of columns ends inside the panel),
   which is why the last group is stored first and the first group's stores then overwrite
   those heads; the panel's last column stores only the floats it holds. */
static inline void tg_tr8(tg_f8* x) {
  const tg_f8 t0 = __builtin_shufflevector(x[0], x[1], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_f8 t1 = __builtin_shufflevector(x[0], x[1], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_f8 t2 = __builtin_shufflevector(x[2], x[3], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_f8 t3 = __builtin_shufflevector(x[2], x[3], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_f8 t4 = __builtin_shufflevector(x[4], x[5], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_f8 t5 = __builtin_shufflevector(x[4], x[5], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_f8 t6 = __builtin_shufflevector(x[6], x[7], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_f8 t7 = __builtin_shufflevector(x[6], x[7], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_f8 s0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_f8 s1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
  const tg_f8 s2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_f8 s3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
  const tg_f8 s4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_f8 s5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
  const tg_f8 s6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_f8 s7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
  x[0] = __builtin_shufflevector(s0, s4, 0, 1, 2, 3, 8, 9, 10, 11);
  x[1] = __builtin_shufflevector(s1, s5, 0, 1, 2, 3, 8, 9, 10, 11);
  x[2] = __builtin_shufflevector(s2, s6, 0, 1, 2, 3, 8, 9, 10, 11);
  x[3] = __builtin_shufflevector(s3, s7, 0, 1, 2, 3, 8, 9, 10, 11);
  x[4] = __builtin_shufflevector(s0, s4, 4, 5, 6, 7, 12, 13, 14, 15);
  x[5] = __builtin_shufflevector(s1, s5, 4, 5, 6, 7, 12, 13, 14, 15);
  x[6] = __builtin_shufflevector(s2, s6, 4, 5, 6, 7, 12, 13, 14, 15);
  x[7] = __builtin_shufflevector(s3, s7, 4, 5, 6, 7, 12, 13, 14, 15);
}
static void pack_a_tr8(int64_t kc, const TG_TA* restrict a, int64_t sm, float* restrict ap) {
  const TG_TA* r[16];
  _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++) r[i] = a + (i < MR ? i : 0) * sm; /* @tg:tr8.rows */
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    _Pragma("GCC unroll 2") for (int h = 0; h < (MR + 7) / 8; h++) {
      const int g = (MR + 7) / 8 - 1 - h;
      tg_f8 x[8];
      _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) x[i] = tg_a8_to_f8(*(const tg_a8u*)(r[8*g + i] + k)); /* @tg:tr8.load */
      tg_tr8(x);
      _Pragma("GCC unroll 7") for (int c = 0; c < 7; c++) *(tg_f8u*)(ap + (k + c) * MR + 8*g) = x[c]; /* @tg:tr8.store */
      if (k + 8 < kc || 8*g + 8 <= MR) *(tg_f8u*)(ap + (k + 7) * MR + 8*g) = x[7]; /* @tg:tr8.store7 */
      else __builtin_memcpy(ap + (k + 7) * MR + 8*g, &x[7], (MR - 8*g) * sizeof(float)); /* @tg:tr8.last */
    }
  }
  for (; k < kc; k++) for (int i = 0; i < MR; i++) ap[k * MR + i] = TG_LOAD_A(a[i * sm + k]); /* @tg:tr8.tail */
}
#define TG_PACK_A_ROWS(kc, a, sm, ap) pack_a_tr8(kc, a, sm, ap)
#else
/* k outside, the panel's rows unrolled inside (kernels build with -fno-unroll-loops): each k
   stores MR contiguous floats. Vectorized along k, the copy becomes 16-lane scatters, slower
   than the scalar stores, so clang is told not to. */
#ifdef __clang__
#define TG_NO_VECTORIZE _Pragma("clang loop vectorize(disable)")
#else
#define TG_NO_VECTORIZE
#endif
#define TG_PACK_A_ROWS(kc, a, sm, ap) \
  TG_NO_VECTORIZE for (int64_t k = 0; k < (kc); k++) _Pragma("GCC unroll 16") for (int64_t i = 0; i < MR; i++) (ap)[k*MR+i] = TG_LOAD_A((a)[i*(sm) + k]) /* @tg:pack_a.rows */
#endif

static void pack_a(int64_t mc, int64_t kc, const TG_TA* restrict a, int64_t sm, int64_t sk, TG_ACC* restrict ap) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, ap += MR*kc) {
    const int64_t mr = tg_min(MR, mc - i0);
    if (mr == MR && sk == 1) { TG_PACK_A_ROWS(kc, a + i0*sm, sm, ap); }
    else if (mr == MR) { for (int64_t k = 0; k < kc; k++) for (int64_t i = 0; i < MR; i++) ap[k*MR+i] = TG_LOAD_A(a[(i0+i)*sm + k*sk]); } /* @tg:pack_a.full */
    else if (sk == 1) { for (int64_t i = 0; i < MR; i++) { if (i < mr) for (int64_t k = 0; k < kc; k++) ap[k*MR+i] = TG_LOAD_A(a[(i0+i)*sm + k]); else for (int64_t k = 0; k < kc; k++) ap[k*MR+i] = 0; } } /* @tg:pack_a.edge_rows */
    else { for (int64_t k = 0; k < kc; k++) for (int64_t i = 0; i < MR; i++) ap[k*MR+i] = i < mr ? TG_LOAD_A(a[(i0+i)*sm + k*sk]) : 0; } /* @tg:pack_a.edge */
  }
}

static void pack_b(int64_t kc, int64_t nc, const TG_TB* restrict b, int64_t sk, int64_t sn, TG_ACC* restrict bp) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR, bp += NR*kc) {
    const int64_t nr = tg_min(NR, nc - j0);
    if (nr == NR && sn == 1) { for (int64_t k = 0; k < kc; k++) for (int64_t j = 0; j < NR; j++) bp[k*NR+j] = TG_LOAD_B(b[k*sk + j0 + j]); } /* @tg:pack_b.rows */
    else if (nr == NR) { for (int64_t k = 0; k < kc; k++) for (int64_t j = 0; j < NR; j++) bp[k*NR+j] = TG_LOAD_B(b[k*sk + (j0+j)*sn]); } /* @tg:pack_b.full */
    else { for (int64_t k = 0; k < kc; k++) for (int64_t j = 0; j < NR; j++) bp[k*NR+j] = j < nr ? TG_LOAD_B(b[k*sk + (j0+j)*sn]) : 0; } /* @tg:pack_b.edge */
  }
}

/* Parallel::Shared: B micro-panel `q` of one K block, packed by whichever thread needs it first
   (flag 0 unpacked, 1 packing, 2 ready); a thread that finds it being packed packs the next
   unpacked ones meanwhile, then waits (packing one takes about a microsecond). */
static void tg_need_b(int32_t* fl, int64_t q, int64_t np, int64_t kc, int64_t N, const TG_TB* B, int64_t bsk,
    int64_t bsn, TG_ACC* bk) {
  if (__atomic_load_n(&fl[q], __ATOMIC_ACQUIRE) == 2) return; /* @tg:need_b.flag */
  for (int64_t r = q; r < np && r < q + TG_SHARED_LOOKAHEAD; r++) {
    int32_t z = 0;
    if (__atomic_load_n(&fl[r], __ATOMIC_RELAXED) == 0 /* @tg:need_b.probe */
        && __atomic_compare_exchange_n(&fl[r], &z, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) { /* @tg:need_b.cas */
      pack_b(kc, tg_min(NR, N - r*NR), B + r*NR*bsn, bsk, bsn, bk + r*NR*kc);
      __atomic_store_n(&fl[r], 2, __ATOMIC_RELEASE); /* @tg:need_b.ready */
    }
    if (__atomic_load_n(&fl[q], __ATOMIC_ACQUIRE) == 2) return; /* @tg:need_b.recheck */
  }
  int spins = 0;
  while (__atomic_load_n(&fl[q], __ATOMIC_ACQUIRE) != 2) spins = tg_wait(spins); /* @tg:need_b.wait */
}
#endif /* TG_PACK_C */
/* CPU GEMM, static part: one output row (x @ W, M = 1) or column (W @ x, N = 1). Memory-bound:
   the matrix is read once, with no packing copy. `tg_axpys` when the long operand is contiguous
   along the output (y += x[k] * row k), `tg_dots` when it is contiguous along K. Rendered where
   C, A and B hold accumulator values (TG_VECTOR_PATH). */
#ifndef TG_VECTOR_C
#define TG_VECTOR_C

static void tg_axpys(int64_t K, int64_t n, const TG_ACC* restrict x, int64_t incx, const TG_ACC* restrict w, int64_t wk, TG_ACC* restrict y) {
  /* rows of w stream contiguously, four at a time; y (one output row) stays in L1 */
  for (int64_t j = 0; j < n; j++) y[j] = 0; /* @tg:axpys.zero */
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) {
    const TG_ACC x0 = x[k*incx], x1 = x[(k+1)*incx], x2 = x[(k+2)*incx], x3 = x[(k+3)*incx]; /* @tg:axpys.x */
    const TG_ACC* r0 = w + k*wk; const TG_ACC* r1 = r0 + wk; const TG_ACC* r2 = r1 + wk; const TG_ACC* r3 = r2 + wk;
    int64_t j = 0;
    for (; j + VW <= n; j += VW) {
      tg_v v = *(const tg_vu*)(y + j); /* @tg:axpys.y_load */
      v += x0 * *(const tg_vu*)(r0 + j) + x1 * *(const tg_vu*)(r1 + j) + x2 * *(const tg_vu*)(r2 + j) + x3 * *(const tg_vu*)(r3 + j); /* @tg:axpys.w */
      *(tg_vu*)(y + j) = v; /* @tg:axpys.y_store */
    }
    for (; j < n; j++) y[j] += x0*r0[j] + x1*r1[j] + x2*r2[j] + x3*r3[j]; /* @tg:axpys.tail */
  }
  for (; k < K; k++) { const TG_ACC xk = x[k*incx]; const TG_ACC* r = w + k*wk; for (int64_t j = 0; j < n; j++) y[j] += xk * r[j]; } /* @tg:axpys.rest */
}

static void tg_dots(int64_t K, int64_t n, const TG_ACC* restrict x, int64_t incx, const TG_ACC* restrict w, int64_t wj, int64_t wk, TG_ACC* restrict y) {
  for (int64_t j = 0; j < n; j++) {
    const TG_ACC* r = w + j*wj; int64_t k = 0; TG_ACC t = 0;
    if (incx == 1 && wk == 1) {
      tg_v s0 = {0}, s1 = {0};
      for (; k + 2*VW <= K; k += 2*VW) { s0 += *(const tg_vu*)(x + k) * *(const tg_vu*)(r + k); s1 += *(const tg_vu*)(x + k + VW) * *(const tg_vu*)(r + k + VW); } /* @tg:dots.vec */
      s0 += s1; for (int l = 0; l < VW; l++) t += s0[l]; /* @tg:dots.lanes */
    }
    for (; k < K; k++) t += x[k*incx] * r[k*wk]; /* @tg:dots.tail */
    y[j] = t; /* @tg:dots.y */
  }
}

/* y[t] for t < len of one output row (row) or column (!row), the epilogue applied per element. */
static void tg_vector_product(int row, int64_t m0, int64_t n0, int64_t len, int64_t K, const TG_ACC* A, int64_t asm_, int64_t ask,
    const TG_ACC* B, int64_t bsk, int64_t bsn, TG_TC* C, int64_t csm, int64_t csn, const tg_epi* e, TG_ACC* y) {
  /* row: y[j] = sum_k A[m0,k] B[k,n0+j]; column: y[i] = sum_k B[k,n0] A[m0+i,k] */
  const TG_ACC* x = row ? A + m0*asm_ : B + n0*bsn;
  const int64_t incx = row ? ask : bsk;
  const TG_ACC* w = row ? B + n0*bsn : A + m0*asm_;
  const int64_t wk = row ? bsk : ask, wj = row ? bsn : asm_;
  if (wj == 1) tg_axpys(K, len, x, incx, w, wk, y); else tg_dots(K, len, x, incx, w, wj, wk, y);
  for (int64_t t = 0; t < len; t++) {
    const int64_t mi = row ? m0 : m0 + t, ni = row ? n0 + t : n0;
    C[mi*csm + ni*csn] = TG_STORE_C(tg_epilogue(e, y[t], mi, ni)); /* @tg:vector.store */
  }
}
#endif /* TG_VECTOR_C */
/* CPU GEMM, static part: the BLIS loops over one block of C and the kernel's entry point, which
   hands blocks of C to threads in one of three ways (abi: Parallel codes in P->parallel). */
#ifndef TG_BLIS_C
#define TG_BLIS_C
#if TG_VECTOR_PATH
#endif

/* jc -> pc -> ic -> jr -> ir over C[m0:m1, n0:n1]: a KC x NC panel of B packed per (jc, pc), an
   MC x KC block of A per (ic, pc), the microkernel per MR x NR tile. With `ainp`, full MR-row
   tiles read A's rows in place and only the edge rows are packed. */
static void tg_blis(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, int64_t KC, int64_t MC, int64_t NC,
    const TG_TA* restrict A, int64_t asm_, int64_t ask, const TG_TB* restrict B, int64_t bsk, int64_t bsn,
    TG_TC* restrict C, int64_t csm, int64_t csn, const tg_epi* e, TG_ACC* restrict ap, TG_ACC* restrict bp, int ainp,
    tg_pf* pf) {
  (void)ainp;
  for (int64_t jc = n0; jc < n1; jc += NC) {
    const int64_t nc = tg_min(NC, n1 - jc);
    int64_t pc = 0;
    do {
      const int64_t kc = tg_min(KC, K - pc);
      const int first = pc == 0, last = pc + kc >= K;
      pack_b(kc, nc, B + pc*bsk + jc*bsn, bsk, bsn, bp);
      for (int64_t ic = m0; ic < m1; ic += MC) {
        const int64_t mc = tg_min(MC, m1 - ic);
        const int64_t mfull = ainp ? mc / MR * MR : 0;
        if (mfull < mc) pack_a(mc - mfull, kc, A + (ic+mfull)*asm_ + pc*ask, asm_, ask, ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = tg_min(NR, nc - jr);
#if TG_A_INPLACE
          for (int64_t ir = 0; ir < mfull; ir += MR, tg_pf_step(pf))
            ukr_a(kc, A + (ic+ir)*asm_ + pc, asm_, bp + jr*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,
                  MR, nr, first, last, e, ic + ir, jc + jr);
#endif
          for (int64_t ir = mfull; ir < mc; ir += MR, tg_pf_step(pf))
            tg_ukr(kc, ap + (ir-mfull)*kc, 0, bp + jr*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,
                tg_min(MR, mc - ir), nr, first, last, e, ic + ir, jc + jr);
        }
      }
      pc += kc;
    } while (pc < K);
  }
}

/* Parallel::Barrier: all threads pack each KC x NC panel of B into the shared workspace, meet at
   a barrier, and each packs A and computes its own rows. */
static void tg_barrier_gemm(const tg_gemm_params* P, char* sh, int64_t tid, int64_t nth, const TG_TA* A, int64_t asm_,
    int64_t ask, const TG_TB* B, int64_t bsk, int64_t bsn, TG_TC* C, int64_t csm, int64_t csn, const tg_epi* e, TG_ACC* ap) {
  const int64_t M = P->m, N = P->n, K = P->k, KC = P->kc, MC = P->mc, NC = P->nc;
  int64_t* bar = (int64_t*)sh + TG_BARRIER_WORD;
  TG_ACC* bs = (TG_ACC*)(sh + TG_SHARED_HEADER);
  const int64_t mper = ((M + nth - 1) / nth + MR - 1) / MR * MR;
  const int64_t r0 = tg_min(M, tid * mper), r1 = tg_min(M, r0 + mper);
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = tg_min(NC, N - jc);
    int64_t pc = 0;
    do {
      const int64_t kc = tg_min(KC, K - pc);
      const int first = pc == 0, last = pc + kc >= K;
      for (int64_t jr = tid * NR; jr < nc; jr += nth * NR)
        pack_b(kc, tg_min(NR, nc - jr), B + pc*bsk + (jc+jr)*bsn, bsk, bsn, bs + jr*kc);
      tg_barrier(bar, nth);
      for (int64_t ic = r0; ic < r1; ic += MC) {
        const int64_t mc = tg_min(MC, r1 - ic);
        pack_a(mc, kc, A + ic*asm_ + pc*ask, asm_, ask, ap);
        for (int64_t jr = 0; jr < nc; jr += NR)
          for (int64_t ir = 0; ir < mc; ir += MR)
            tg_ukr(kc, ap + ir*kc, 0, bs + jr*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,
                tg_min(MR, mc - ir), tg_min(NR, nc - jr), first, last, e, ic + ir, jc + jr);
      }
      tg_barrier(bar, nth); /* nobody repacks B while another thread still reads it */
      pc += kc;
    } while (pc < K);
  }
}

/* Parallel::Shared: blocks of C claimed from the counter, the K loop inside each, B packed once
   into the shared workspace on demand (flags after the header, packed B after the flags: the K
   block at row pc holds micro-panel q at pc*Npad + q*NR*kc). */
static void tg_shared_gemm(const tg_gemm_params* P, char* sh, int64_t* next_chunk, const TG_TA* A, int64_t asm_,
    int64_t ask, const TG_TB* B, int64_t bsk, int64_t bsn, TG_TC* C, int64_t csm, int64_t csn, const tg_epi* e, TG_ACC* ap) {
  const int64_t M = P->m, N = P->n, K = P->k, KC = P->kc, MC = P->mc, NC = P->nc;
  const int64_t np = (N + NR - 1) / NR, nkb = (K + KC - 1) / KC;
  int32_t* flags = (int32_t*)(sh + TG_SHARED_HEADER);
  TG_ACC* bs = (TG_ACC*)(sh + TG_SHARED_HEADER + ((nkb * np * 4 + 63) & ~(int64_t)63));
  const int64_t nic = (M + MC - 1) / MC, njc = (N + NC - 1) / NC;
  for (int64_t t = __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED); t < nic * njc; /* @tg:shared.claim */
       t = __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED)) { /* @tg:shared.claim_next */
    const int64_t jc = t / nic * NC, ic = t % nic * MC;
    const int64_t nc = tg_min(NC, N - jc), mc = tg_min(MC, M - ic);
    for (int64_t pc = 0, kb = 0; pc < K; pc += KC, kb++) {
      const int64_t kc = tg_min(KC, K - pc);
      const int first = pc == 0, last = pc + kc >= K;
      TG_ACC* bk = bs + pc * np * NR;
      pack_a(mc, kc, A + ic*asm_ + pc*ask, asm_, ask, ap);
      for (int64_t jr = 0; jr < nc; jr += NR) {
        const int64_t q = (jc + jr) / NR;
        tg_need_b(flags + kb * np, q, np, kc, N, B + pc*bsk, bsk, bsn, bk);
        for (int64_t ir = 0; ir < mc; ir += MR)
          tg_ukr(kc, ap + ir*kc, 0, bk + q*NR*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,
              tg_min(MR, mc - ir), tg_min(NR, nc - jr), first, last, e, ic + ir, jc + jr);
      }
    }
  }
}

/* Small row-major problems with Packing::Neither: every tile reads A and B in place. The whole
   K is one block, so C is written once per tile, never accumulated: edge tiles shift back to end
   at the chunk's edge and overlap their neighbour, recomputing (and rewriting) identical values.
   Each tile steps `pf`, the prefetch of the thread's likely next chunk (streamed batches), as
   tg_blis's tiles do. Returns 0 where chunks are narrower than a tile (the packed loops run
   instead). */
#if TG_B_INPLACE
static int tg_inplace_tiles(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const TG_ACC* A, int64_t asm_,
    const TG_ACC* B, int64_t bsk, TG_TC* C, int64_t csm, int64_t csn, const tg_epi* e, tg_pf* pf) {
  if (m1 - m0 < MR || n1 - n0 < NR) return 0;
  for (int64_t jr = n0; jr < n1; jr += NR) {
    const int64_t j = tg_min(jr, n1 - NR);
    for (int64_t ir = m0; ir < m1; ir += MR, tg_pf_step(pf)) {
      const int64_t i = tg_min(ir, m1 - MR);
      ukr_u(K, A + i*asm_, asm_, B + j, bsk, C + i*csm + j*csn, csm, csn, MR, NR, 1, 1, e, i, j);
    }
  }
  return 1;
}
#endif

/* The entry point (abi::KernelFn). Parallel::Barrier: every thread takes part in every chunk
   (one whole GEMM per batch index). Parallel::Shared: every thread enters the one chunk (one
   batch index) and claims blocks of C inside it. Parallel::Chunks: threads claim chunks (batch
   index x M range x N range) from the counter. In the last two the caller alone can finish (the
   pool does not wait for late helpers). */
void tgrad_kernel(const int64_t* restrict p, char** restrict bufs, char* restrict ws, int64_t tid, int64_t nth) {
  const tg_gemm_params* P = (const tg_gemm_params*)p;
  const int64_t M = P->m, N = P->n, K = P->k, NB = P->batch, mch = P->mchunks, nch = P->nchunks;
  const int64_t KC = P->kc, MC = P->mc, NC = P->nc;
  const int64_t mstep = ((M + mch - 1) / mch + MR - 1) / MR * MR, nstep = ((N + nch - 1) / nch + NR - 1) / NR * NR;
  TG_ACC* ap = (TG_ACC*)ws;
  TG_ACC* bp = (TG_ACC*)(ws + ((((MC + MR - 1) / MR * MR) * KC * (int64_t)sizeof(TG_ACC) + 63) & ~(int64_t)63));
  char* sh = bufs[TG_NBUFS];
  const int barrier = P->parallel == TG_PARALLEL_BARRIER && nth > 1 && M > 1 && N > 1;
  const int shared = P->parallel == TG_PARALLEL_SHARED && NB == 1 && M > 1 && N > 1;
  int64_t* next_chunk = (int64_t*)sh + TG_CLAIM_WORD;
  const int every = barrier || shared;
  for (int64_t ch = every ? 0 : __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED); ch < (shared ? 1 : NB * mch * nch); /* @tg:kernel.claim */
       ch = every ? ch + 1 : __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED)) { /* @tg:kernel.claim_next */
    const int64_t bi = ch / (mch * nch), mi = (ch / nch) % mch, ni = ch % nch;
    const int64_t m0 = mi * mstep, n0 = ni * nstep, m1 = tg_min(M, m0 + mstep), n1 = tg_min(N, n0 + nstep);
    if (m0 >= m1 || n0 >= n1) continue;
    int64_t bidx[TG_MAX_BATCH];
    tg_batch_index(P, bi, bidx);
    TG_TC* C = (TG_TC*)bufs[0] + tg_off(&P->op[0], bidx);
    const int64_t csm = P->op[0].sm, csn = P->op[0].sn;
    const TG_TA* A = (const TG_TA*)bufs[TG_ABUF] + tg_off(&P->op[1], bidx);
    const int64_t asm_ = P->op[1].sm, ask = P->op[1].sk;
    const TG_TB* B = (const TG_TB*)bufs[TG_BBUF] + tg_off(&P->op[2], bidx);
    const int64_t bsn = P->op[2].sn, bsk = P->op[2].sk;
    /* batched GEMMs of small matrices stream every operand from L3 or memory: while this chunk
       computes, prefetch the operands of the chunk this thread will likely take next (claims
       alternate between threads) into L2, when they are small enough to fit beside it */
    tg_pf pf = {0, 0, 0, 0};
    if (!every && mch * nch == 1 && bi + nth < NB && ask == 1 && asm_ == K && bsn == 1 && bsk == N
        && M*K*(int64_t)sizeof(TG_TA) + K*N*(int64_t)sizeof(TG_TB) <= TG_PREFETCH_NEXT_MAX_BYTES) {
      int64_t nidx[TG_MAX_BATCH];
      tg_batch_index(P, bi + nth, nidx);
      pf.a = (const char*)((const TG_TA*)bufs[TG_ABUF] + tg_off(&P->op[1], nidx)); pf.a_end = pf.a + M*K*(int64_t)sizeof(TG_TA);
      pf.b = (const char*)((const TG_TB*)bufs[TG_BBUF] + tg_off(&P->op[2], nidx)); pf.b_end = pf.b + K*N*(int64_t)sizeof(TG_TB);
    }
    tg_epi e;
    tg_epi_init(&e, P, bufs, bidx);
    if (barrier) {
      tg_barrier_gemm(P, sh, tid, nth, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, ap);
      continue;
    }
    if (shared) {
      tg_shared_gemm(P, sh, next_chunk, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, ap);
      continue;
    }
#if TG_VECTOR_PATH
    if ((m1 - m0 == 1 || n1 - n0 == 1) && K <= TG_LONG_K) {
      const int row = m1 - m0 == 1;
      tg_vector_product(row, m0, n0, row ? n1 - n0 : m1 - m0, K, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, (TG_ACC*)ws);
      continue;
    }
#endif
#if TG_B_INPLACE
    if (P->packing == TG_PACKING_NEITHER && ask == 1 && bsn == 1) {
      if (!tg_inplace_tiles(m0, m1, n0, n1, K, A, asm_, B, bsk, C, csm, csn, &e, &pf))
        tg_blis(m0, m1, n0, n1, K, KC, MC, NC, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, ap, bp, 1, &pf);
      continue;
    }
#endif
#if TG_A_INPLACE
    const int ainp = P->packing != TG_PACKING_BOTH && ask == 1;
#else
    const int ainp = 0;
#endif
    tg_blis(m0, m1, n0, n1, K, KC, MC, NC, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, ap, bp, ainp, &pf);
  }
}
#endif /* TG_BLIS_C */
