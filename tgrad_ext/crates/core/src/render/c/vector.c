/* CPU GEMM, static part: one output row (x @ W, M = 1) or column (W @ x, N = 1). Memory-bound:
   the matrix is read once, with no packing copy. `tg_axpys` when the long operand is contiguous
   along the output (y += x[k] * row k), `tg_dots` when it is contiguous along K. Rendered where
   C, A and B hold accumulator values (TG_VECTOR_PATH). */
#ifndef TG_VECTOR_C
#define TG_VECTOR_C
#include "tg_gemm.h"

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
