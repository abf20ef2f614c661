#include <stdint.h>
#include <stddef.h>
static inline int64_t tg_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline float tg_f32_bits(int32_t b) { union { int32_t i; float f; } u = { b }; return u.f; }
static inline double tg_f64_bits(int64_t b) { union { int64_t i; double d; } u = { b }; return u.d; }
/* r_5_6_7 : loops|cpu/avx2+fma/2t|r3red[0, 2]:max:float[L1r3:float]ACC->float */
typedef struct { int64_t offset; int64_t st[3]; } tg_view;
typedef struct { int64_t n[3]; tg_view v[2]; int64_t c[1]; } tg_loop_params;
void tgrad_kernel(const int64_t* restrict p, char** restrict bufs, char* restrict ws, int64_t tid, int64_t nth) {
  (void)ws; (void)tid; (void)nth;
  float* restrict b0 = (float*)bufs[0];
  const float* restrict b1 = (const float*)bufs[1];
  const tg_loop_params* P = (const tg_loop_params*)p;
  const int64_t tg_outs = P->n[1];
  const int64_t tg_lo = tg_outs * tid / nth, tg_hi = tg_outs * (tid + 1) / nth;
  int64_t i1 = tg_lo;
  for (int64_t tg_o = tg_lo; tg_o < tg_hi; tg_o++) {
    float v0 = (-__builtin_inff());
    for (int64_t i0 = 0; i0 < P->n[0]; i0++) {
      for (int64_t i2 = 0; i2 < P->n[2]; i2++) {
        const float v1 = b1[P->v[1].offset + i1*P->v[1].st[1] + i0*P->v[1].st[0] + i2*P->v[1].st[2]]; /* @tg:loop.load */
        v0 = (v1 > v0 || v1 != v1) ? v1 : v0;
      }
    }
    b0[P->v[0].offset + i1*P->v[0].st[1]] = v0; /* @tg:loop.store */
    i1++;
  }
}
