#include <stdint.h>
#include <stddef.h>
static inline int64_t tg_min(int64_t a, int64_t b) { return a < b ? a : b; }
/* r_256_1024_1024 : gemm|vw8mr6nr16|packed|acc:float|a1:float|b2:float|out:float|relu(add(ACC,L3:float)) */
typedef float tg_v __attribute__((vector_size(32)));
typedef float tg_vu __attribute__((vector_size(32), aligned(4)));
typedef int32_t tg_vi __attribute__((vector_size(32)));
static inline tg_v tg_vrelu(tg_v x) { return (tg_v)((tg_vi)(x > 0) & (tg_vi)x); }
static inline tg_v tg_vmax(tg_v a, tg_v b) { tg_vi m = (tg_vi)(a > b); return (tg_v)((m & (tg_vi)a) | (~m & (tg_vi)b)); }
#define MR 6
#define NR 16
#define VW 8
typedef struct {
  const float* p0; int64_t sm0, sn0;
  int vec_ok;
} tg_epi;
static inline void tg_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
static inline void tg_barrier(int64_t* bar, int64_t nth) {
  const int64_t gen = __atomic_load_n(&bar[8], __ATOMIC_ACQUIRE);
  if (__atomic_add_fetch(&bar[0], 1, __ATOMIC_ACQ_REL) == nth) {
    __atomic_store_n(&bar[0], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&bar[8], gen + 1, __ATOMIC_RELEASE);
  } else {
    while (__atomic_load_n(&bar[8], __ATOMIC_ACQUIRE) == gen) tg_pause();
  }
}
typedef struct { const char* a; const char* a_end; const char* b; const char* b_end; } tg_pf;
static inline void tg_pf_step(tg_pf* f) {
  for (int i = 0; i < 16; i++) {
    if (f->a < f->a_end) { __builtin_prefetch(f->a, 0, 2); f->a += 64; }
    else if (f->b < f->b_end) { __builtin_prefetch(f->b, 0, 2); f->b += 64; }
    else return;
  }
}

static inline void tg_tr8(tg_v* x) {
  const tg_v t0 = __builtin_shufflevector(x[0], x[1], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_v t1 = __builtin_shufflevector(x[0], x[1], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_v t2 = __builtin_shufflevector(x[2], x[3], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_v t3 = __builtin_shufflevector(x[2], x[3], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_v t4 = __builtin_shufflevector(x[4], x[5], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_v t5 = __builtin_shufflevector(x[4], x[5], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_v t6 = __builtin_shufflevector(x[6], x[7], 0, 8, 1, 9, 4, 12, 5, 13);
  const tg_v t7 = __builtin_shufflevector(x[6], x[7], 2, 10, 3, 11, 6, 14, 7, 15);
  const tg_v s0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_v s1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
  const tg_v s2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_v s3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
  const tg_v s4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_v s5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
  const tg_v s6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13);
  const tg_v s7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
  x[0] = __builtin_shufflevector(s0, s4, 0, 1, 2, 3, 8, 9, 10, 11);
  x[1] = __builtin_shufflevector(s1, s5, 0, 1, 2, 3, 8, 9, 10, 11);
  x[2] = __builtin_shufflevector(s2, s6, 0, 1, 2, 3, 8, 9, 10, 11);
  x[3] = __builtin_shufflevector(s3, s7, 0, 1, 2, 3, 8, 9, 10, 11);
  x[4] = __builtin_shufflevector(s0, s4, 4, 5, 6, 7, 12, 13, 14, 15);
  x[5] = __builtin_shufflevector(s1, s5, 4, 5, 6, 7, 12, 13, 14, 15);
  x[6] = __builtin_shufflevector(s2, s6, 4, 5, 6, 7, 12, 13, 14, 15);
  x[7] = __builtin_shufflevector(s3, s7, 4, 5, 6, 7, 12, 13, 14, 15);
}
static void pack_a_tr8(int64_t kc, const float* restrict a, int64_t sm, float* restrict ap) {
  const float* r[8];
  for (int i = 0; i < 8; i++) r[i] = a + (i < MR ? i : 0) * sm;
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    tg_v x[8];
    for (int i = 0; i < 8; i++) x[i] = *(const tg_vu*)(r[i] + k);
    tg_tr8(x);
    /* 8-wide stores in order: each overwrites the MR..7 tail its predecessor wrote past its
       column; the panel's last column stores MR floats only (nothing past the panel) */
    for (int c = 0; c < 7; c++) *(tg_vu*)(ap + (k + c) * MR) = x[c];
    if (k + 8 < kc) *(tg_vu*)(ap + (k + 7) * MR) = x[7];
    else __builtin_memcpy(ap + (k + 7) * MR, &x[7], MR * sizeof(float));
  }
  for (; k < kc; k++) for (int i = 0; i < MR; i++) ap[k * MR + i] = a[i * sm + k];
}
static void pack_a(int64_t mc, int64_t kc, const float* restrict a, int64_t sm, int64_t sk, float* restrict ap) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, ap += MR*kc) {
    const int64_t mr = tg_min(MR, mc - i0);
    if (mr == MR && sk == 1) { pack_a_tr8(kc, a + i0*sm, sm, ap); }
    else if (mr == MR) { for (int64_t k = 0; k < kc; k++) for (int64_t i = 0; i < MR; i++) ap[k*MR+i] = (float)a[(i0+i)*sm + k*sk]; }
    else if (sk == 1) { for (int64_t i = 0; i < MR; i++) { if (i < mr) for (int64_t k = 0; k < kc; k++) ap[k*MR+i] = (float)a[(i0+i)*sm + k]; else for (int64_t k = 0; k < kc; k++) ap[k*MR+i] = 0; } }
    else { for (int64_t k = 0; k < kc; k++) for (int64_t i = 0; i < MR; i++) ap[k*MR+i] = i < mr ? (float)a[(i0+i)*sm + k*sk] : 0; }
  }
}
static void pack_b(int64_t kc, int64_t nc, const float* restrict b, int64_t sk, int64_t sn, float* restrict bp) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR, bp += NR*kc) {
    const int64_t nr = tg_min(NR, nc - j0);
    if (nr == NR && sn == 1) { for (int64_t k = 0; k < kc; k++) for (int64_t j = 0; j < NR; j++) bp[k*NR+j] = (float)b[k*sk + j0 + j]; }
    else if (nr == NR) { for (int64_t k = 0; k < kc; k++) for (int64_t j = 0; j < NR; j++) bp[k*NR+j] = (float)b[k*sk + (j0+j)*sn]; }
    else { for (int64_t k = 0; k < kc; k++) for (int64_t j = 0; j < NR; j++) bp[k*NR+j] = j < nr ? (float)b[k*sk + (j0+j)*sn] : 0; }
  }
}
static void tg_need_b(int32_t* fl, int64_t q, int64_t np, int64_t kc, int64_t N, const float* B, int64_t bsk,
    int64_t bsn, float* bk) {
  if (__atomic_load_n(&fl[q], __ATOMIC_ACQUIRE) == 2) return;
  for (int64_t r = q; r < np && r < q + 4; r++) {
    int32_t z = 0;
    if (__atomic_load_n(&fl[r], __ATOMIC_RELAXED) == 0
        && __atomic_compare_exchange_n(&fl[r], &z, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
      pack_b(kc, tg_min(NR, N - r*NR), B + r*NR*bsn, bsk, bsn, bk + r*NR*kc);
      __atomic_store_n(&fl[r], 2, __ATOMIC_RELEASE);
    }
    if (__atomic_load_n(&fl[q], __ATOMIC_ACQUIRE) == 2) return;
  }
  while (__atomic_load_n(&fl[q], __ATOMIC_ACQUIRE) != 2) tg_pause();
}
static inline __attribute__((always_inline)) void ukr(int64_t kc, const float* restrict a, int64_t lda, const float* restrict b, int64_t ldb, float* restrict c, int64_t csm, int64_t csn, int64_t mr, int64_t nr, int first, int last, const tg_epi* e, int64_t m, int64_t n) {
  (void)lda; (void)ldb;
  tg_v c0_0 = {0}, c0_1 = {0}, c1_0 = {0}, c1_1 = {0}, c2_0 = {0}, c2_1 = {0}, c3_0 = {0}, c3_1 = {0}, c4_0 = {0}, c4_1 = {0}, c5_0 = {0}, c5_1 = {0};
  if (!first) for (int r = 0; r < MR; r++) __builtin_prefetch(c + r*csm, 1);
  for (int64_t k = 0; k < kc; k++, a += MR, b += NR) {
    const tg_v b0 = *(const tg_v*)(b + 0);
    const tg_v b1 = *(const tg_v*)(b + 8);
    { const float a0 = a[0]; c0_0 += a0 * b0; c0_1 += a0 * b1; }
    { const float a1 = a[1]; c1_0 += a1 * b0; c1_1 += a1 * b1; }
    { const float a2 = a[2]; c2_0 += a2 * b0; c2_1 += a2 * b1; }
    { const float a3 = a[3]; c3_0 += a3 * b0; c3_1 += a3 * b1; }
    { const float a4 = a[4]; c4_0 += a4 * b0; c4_1 += a4 * b1; }
    { const float a5 = a[5]; c5_0 += a5 * b0; c5_1 += a5 * b1; }
  }
  if (mr == MR && nr == NR && csn == 1 && e->vec_ok) {
    { tg_v x = c0_0; float* cp = c + 0*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 0, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    { tg_v x = c0_1; float* cp = c + 0*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 0, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    { tg_v x = c1_0; float* cp = c + 1*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 1, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    { tg_v x = c1_1; float* cp = c + 1*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 1, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    { tg_v x = c2_0; float* cp = c + 2*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 2, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    { tg_v x = c2_1; float* cp = c + 2*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 2, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    { tg_v x = c3_0; float* cp = c + 3*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 3, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    { tg_v x = c3_1; float* cp = c + 3*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 3, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    { tg_v x = c4_0; float* cp = c + 4*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 4, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    { tg_v x = c4_1; float* cp = c + 4*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 4, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    { tg_v x = c5_0; float* cp = c + 5*csm + 0; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 5, n_ = n + 0; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    { tg_v x = c5_1; float* cp = c + 5*csm + 8; if (!first) x += *(const tg_vu*)cp; if (last) { const int64_t m_ = m + 5, n_ = n + 8; (void)m_; (void)n_; x = tg_vrelu((x + (e->sn0 == 0 ? (tg_v){0} + (float)e->p0[(m_)*e->sm0] : *(const tg_vu*)(e->p0 + (m_)*e->sm0 + (n_))))); } *(tg_vu*)cp = x; }
    return;
  }
  float t[MR*NR] __attribute__((aligned(64)));
  *(tg_v*)(t + 0) = c0_0;
  *(tg_v*)(t + 8) = c0_1;
  *(tg_v*)(t + 16) = c1_0;
  *(tg_v*)(t + 24) = c1_1;
  *(tg_v*)(t + 32) = c2_0;
  *(tg_v*)(t + 40) = c2_1;
  *(tg_v*)(t + 48) = c3_0;
  *(tg_v*)(t + 56) = c3_1;
  *(tg_v*)(t + 64) = c4_0;
  *(tg_v*)(t + 72) = c4_1;
  *(tg_v*)(t + 80) = c5_0;
  *(tg_v*)(t + 88) = c5_1;
  for (int64_t i = 0; i < mr; i++) for (int64_t j = 0; j < nr; j++) {
    float* cp = c + i*csm + j*csn; float x = t[i*NR + j]; if (!first) x += *cp; (void)first;
    if (last) x = ((x + e->p0[(m+i)*e->sm0 + (n+j)*e->sn0]) > 0 ? (x + e->p0[(m+i)*e->sm0 + (n+j)*e->sn0]) : 0);
    *cp = x;
  }
}
static __attribute__((noinline)) void ukr_h(int64_t kc, const float* restrict a, int64_t lda, const float* restrict b, int64_t ldb, float* restrict c, int64_t csm, int64_t csn, int64_t mr, int64_t nr, int first, int last, const tg_epi* e, int64_t m, int64_t n) {
  (void)lda; (void)ldb;
  tg_v c0_0 = {0}, c0_1 = {0}, c1_0 = {0}, c1_1 = {0}, c2_0 = {0}, c2_1 = {0};
  if (!first) for (int r = 0; r < 3; r++) __builtin_prefetch(c + r*csm, 1);
  for (int64_t k = 0; k < kc; k++, a += MR, b += NR) {
    const tg_v b0 = *(const tg_v*)(b + 0);
    const tg_v b1 = *(const tg_v*)(b + 8);
    { const float a0 = a[0]; c0_0 += a0 * b0; c0_1 += a0 * b1; }
    { const float a1 = a[1]; c1_0 += a1 * b0; c1_1 += a1 * b1; }
    { const float a2 = a[2]; c2_0 += a2 * b0; c2_1 += a2 * b1; }
  }
  float t[MR*NR] __attribute__((aligned(64)));
  *(tg_v*)(t + 0) = c0_0;
  *(tg_v*)(t + 8) = c0_1;
  *(tg_v*)(t + 16) = c1_0;
  *(tg_v*)(t + 24) = c1_1;
  *(tg_v*)(t + 32) = c2_0;
  *(tg_v*)(t + 40) = c2_1;
  for (int64_t i = 0; i < mr; i++) for (int64_t j = 0; j < nr; j++) {
    float* cp = c + i*csm + j*csn; float x = t[i*NR + j]; if (!first) x += *cp; (void)first;
    if (last) x = ((x + e->p0[(m+i)*e->sm0 + (n+j)*e->sn0]) > 0 ? (x + e->p0[(m+i)*e->sm0 + (n+j)*e->sn0]) : 0);
    *cp = x;
  }
}
static inline __attribute__((always_inline)) void tg_ukr(int64_t kc, const float* restrict a, int64_t lda, const float* restrict b, int64_t ldb, float* restrict c, int64_t csm, int64_t csn, int64_t mr, int64_t nr, int first, int last, const tg_epi* e, int64_t m, int64_t n) {
  if (mr <= 3) ukr_h(kc, a, lda, b, ldb, c, csm, csn, mr, nr, first, last, e, m, n);
  else ukr(kc, a, lda, b, ldb, c, csm, csn, mr, nr, first, last, e, m, n);
}
static void tg_axpys(int64_t K, int64_t n, const float* restrict x, int64_t incx, const float* restrict w, int64_t wk, float* restrict y) {
  /* rows of w stream contiguously, four at a time; y (one output row) stays in L1 */
  for (int64_t j = 0; j < n; j++) y[j] = 0;
  int64_t k = 0;
  for (; k + 4 <= K; k += 4) {
    const float x0 = x[k*incx], x1 = x[(k+1)*incx], x2 = x[(k+2)*incx], x3 = x[(k+3)*incx];
    const float* r0 = w + k*wk; const float* r1 = r0 + wk; const float* r2 = r1 + wk; const float* r3 = r2 + wk;
    int64_t j = 0;
    for (; j + VW <= n; j += VW) {
      tg_v v = *(const tg_vu*)(y + j);
      v += x0 * *(const tg_vu*)(r0 + j) + x1 * *(const tg_vu*)(r1 + j) + x2 * *(const tg_vu*)(r2 + j) + x3 * *(const tg_vu*)(r3 + j);
      *(tg_vu*)(y + j) = v;
    }
    for (; j < n; j++) y[j] += x0*r0[j] + x1*r1[j] + x2*r2[j] + x3*r3[j];
  }
  for (; k < K; k++) { const float xk = x[k*incx]; const float* r = w + k*wk; for (int64_t j = 0; j < n; j++) y[j] += xk * r[j]; }
}
static void tg_dots(int64_t K, int64_t n, const float* restrict x, int64_t incx, const float* restrict w, int64_t wj, int64_t wk, float* restrict y) {
  for (int64_t j = 0; j < n; j++) {
    const float* r = w + j*wj; int64_t k = 0; float t = 0;
    if (incx == 1 && wk == 1) {
      tg_v s0 = {0}, s1 = {0};
      for (; k + 2*VW <= K; k += 2*VW) { s0 += *(const tg_vu*)(x + k) * *(const tg_vu*)(r + k); s1 += *(const tg_vu*)(x + k + VW) * *(const tg_vu*)(r + k + VW); }
      s0 += s1; for (int l = 0; l < VW; l++) t += s0[l];
    }
    for (; k < K; k++) t += x[k*incx] * r[k*wk];
    y[j] = t;
  }
}
static void tg_blis(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, int64_t KC, int64_t MC, int64_t NC,
    const float* restrict A, int64_t asm_, int64_t ask, const float* restrict B, int64_t bsk, int64_t bsn,
    float* restrict C, int64_t csm, int64_t csn, const tg_epi* e, float* restrict ap, float* restrict bp, int ainp,
    tg_pf* pf) {
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
          for (int64_t ir = mfull; ir < mc; ir += MR, tg_pf_step(pf))
            tg_ukr(kc, ap + (ir-mfull)*kc, 0, bp + jr*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,
                tg_min(MR, mc - ir), nr, first, last, e, ic + ir, jc + jr);
        }
      }
      pc += kc;
    } while (pc < K);
  }
}
void tgrad_kernel(const int64_t* restrict p, char** restrict bufs, char* restrict ws, int64_t tid, int64_t nth) {
  const int64_t M = p[0], N = p[1], K = p[2], NB = p[3], mch = p[8], nch = p[9], KC = p[10], MC = p[11], NC = p[12];
  const int64_t mstep = ((M + mch - 1) / mch + MR - 1) / MR * MR, nstep = ((N + nch - 1) / nch + NR - 1) / NR * NR;
  float* ap = (float*)ws;
  float* bp = (float*)(ws + ((((MC + MR - 1) / MR * MR) * KC * (int64_t)sizeof(float) + 63) & ~(int64_t)63));
  /* Parallel::Barrier: every thread takes part in every chunk (one whole GEMM per batch
     index). Parallel::Shared: every thread enters the one chunk (one batch index) and claims
     blocks of C inside it. Parallel::Chunks: threads claim chunks from a shared counter. In the
     last two the caller alone can finish (the pool does not wait for late helpers) */
  const int barrier = p[14] == 1 && nth > 1 && M > 1 && N > 1;
  const int shared = p[14] == 2 && NB == 1 && M > 1 && N > 1;
  int64_t* next_chunk = (int64_t*)bufs[4] + 16;
  const int every = barrier || shared;
  for (int64_t ch = every ? 0 : __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED); ch < (shared ? 1 : NB * mch * nch);
       ch = every ? ch + 1 : __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED)) {
    const int64_t bi = ch / (mch * nch), mi = (ch / nch) % mch, ni = ch % nch;
    const int64_t m0 = mi * mstep, n0 = ni * nstep, m1 = tg_min(M, m0 + mstep), n1 = tg_min(N, n0 + nstep);
    if (m0 >= m1 || n0 >= n1) continue;
    int64_t bidx[4]; { int64_t r = bi; for (int d = 3; d >= 0; d--) { bidx[d] = r % p[4+d]; r /= p[4+d]; } }
    float* C = (float*)bufs[0] + p[16] + bidx[0]*p[20] + bidx[1]*p[21] + bidx[2]*p[22] + bidx[3]*p[23]; const int64_t csm = p[17], csn = p[18];
    const float* A = (const float*)bufs[1] + p[24] + bidx[0]*p[28] + bidx[1]*p[29] + bidx[2]*p[30] + bidx[3]*p[31]; const int64_t asm_ = p[25], ask = p[27];
    const float* B = (const float*)bufs[2] + p[32] + bidx[0]*p[36] + bidx[1]*p[37] + bidx[2]*p[38] + bidx[3]*p[39]; const int64_t bsn = p[34], bsk = p[35];
    tg_pf pf = {0, 0, 0, 0};
    if (!every && mch * nch == 1 && bi + nth < NB && ask == 1 && asm_ == K && bsn == 1 && bsk == N
        && M*K*(int64_t)sizeof(float) + K*N*(int64_t)sizeof(float) <= 196608) {
      int64_t nidx[4]; { int64_t r = bi + nth; for (int d = 3; d >= 0; d--) { nidx[d] = r % p[4+d]; r /= p[4+d]; } }
      pf.a = (const char*)((const float*)bufs[1] + p[24] + nidx[0]*p[28] + nidx[1]*p[29] + nidx[2]*p[30] + nidx[3]*p[31]); pf.a_end = pf.a + M*K*(int64_t)sizeof(float);
      pf.b = (const char*)((const float*)bufs[2] + p[32] + nidx[0]*p[36] + nidx[1]*p[37] + nidx[2]*p[38] + nidx[3]*p[39]); pf.b_end = pf.b + K*N*(int64_t)sizeof(float);
    }
    tg_epi e; e.vec_ok = 1;
    e.p0 = (const float*)bufs[3] + p[40] + bidx[0]*p[44] + bidx[1]*p[45] + bidx[2]*p[46] + bidx[3]*p[47]; e.sm0 = p[41]; e.sn0 = p[42]; e.vec_ok &= (e.sn0 == 0 || e.sn0 == 1);
    if (barrier) {
      char* sh = bufs[4];
      int64_t* bar = (int64_t*)sh;
      float* bs = (float*)(sh + 192);
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
                    tg_min(MR, mc - ir), tg_min(NR, nc - jr), first, last, &e, ic + ir, jc + jr);
          }
          tg_barrier(bar, nth); /* nobody repacks B while another thread still reads it */
          pc += kc;
        } while (pc < K);
      }
      continue;
    }
    if (shared) {
      char* sh = bufs[4];
      const int64_t np = (N + NR - 1) / NR, nkb = (K + KC - 1) / KC;
      int32_t* flags = (int32_t*)(sh + 192);
      float* bs = (float*)(sh + 192 + ((nkb * np * 4 + 63) & ~(int64_t)63));
      const int64_t nic = (M + MC - 1) / MC, njc = (N + NC - 1) / NC;
      for (int64_t t = __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED); t < nic * njc;
           t = __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED)) {
        const int64_t jc = t / nic * NC, ic = t % nic * MC;
        const int64_t nc = tg_min(NC, N - jc), mc = tg_min(MC, M - ic);
        for (int64_t pc = 0, kb = 0; pc < K; pc += KC, kb++) {
          const int64_t kc = tg_min(KC, K - pc);
          const int first = pc == 0, last = pc + kc >= K;
          float* bk = bs + pc * np * NR;
          pack_a(mc, kc, A + ic*asm_ + pc*ask, asm_, ask, ap);
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int64_t q = (jc + jr) / NR;
            tg_need_b(flags + kb * np, q, np, kc, N, B + pc*bsk, bsk, bsn, bk);
            for (int64_t ir = 0; ir < mc; ir += MR)
              tg_ukr(kc, ap + ir*kc, 0, bk + q*NR*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,
                  tg_min(MR, mc - ir), tg_min(NR, nc - jr), first, last, &e, ic + ir, jc + jr);
          }
        }
      }
      continue;
    }
    if (m1 - m0 == 1 || n1 - n0 == 1) {
      float* y = (float*)ws;
      const int row = m1 - m0 == 1;
      const int64_t len = row ? n1 - n0 : m1 - m0;
      /* row: y[j] = sum_k A[m0,k] B[k,n0+j]; column: y[i] = sum_k B[k,n0] A[m0+i,k] */
      const float* x = row ? A + m0*asm_ : B + n0*bsn;
      const int64_t incx = row ? ask : bsk;
      const float* w = row ? B + n0*bsn : A + m0*asm_;
      const int64_t wk = row ? bsk : ask, wj = row ? bsn : asm_;
      if (wj == 1) tg_axpys(K, len, x, incx, w, wk, y); else tg_dots(K, len, x, incx, w, wj, wk, y);
      for (int64_t t = 0; t < len; t++) {
        const int64_t mi_ = row ? m0 : m0 + t, ni_ = row ? n0 + t : n0;
        float x = y[t];
        x = ((x + e.p0[mi_*e.sm0 + ni_*e.sn0]) > 0 ? (x + e.p0[mi_*e.sm0 + ni_*e.sn0]) : 0);
        C[mi_*csm + ni_*csn] = x;
      }
      continue;
    }
    tg_blis(m0, m1, n0, n1, K, KC, MC, NC, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, ap, bp, 0, &pf);
  }
}
