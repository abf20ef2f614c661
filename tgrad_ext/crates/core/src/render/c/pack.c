/* CPU GEMM, static part: packing A into MR-row micro-panels and B into NR-column micro-panels
   (zero-padded at the edges), and the on-demand packing of Parallel::Shared. */
#ifndef TG_PACK_C
#define TG_PACK_C
#include "sync.c"

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
