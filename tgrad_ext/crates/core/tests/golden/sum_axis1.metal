#include <metal_stdlib>
using namespace metal;
static inline float tg_hround(float x) { return float(half(x)); }
/* r_32_48 : loops|metal/apple|r2red[1]:sum:float[L1r2:float]ACC->float */
typedef struct { long offset; long st[2]; } tg_view;
typedef struct { long n[2]; tg_view v[2]; long c[1]; } tg_loop_params;
kernel void tgrad_kernel(constant long* p [[buffer(0)]], device float* b0 [[buffer(1)]], const device float* b1 [[buffer(2)]], uint gid [[thread_position_in_grid]], uint gsz [[threads_per_grid]]) {
  constant tg_loop_params* P = (constant tg_loop_params*)p;
  const long tg_outs = P->n[0];
  for (long tg_o = gid; tg_o < tg_outs; tg_o += gsz) {
    const long i0 = tg_o;
    float v0 = 0e0f, v0_c = 0e0f;
    for (long i1 = 0; i1 < P->n[1]; i1++) {
      const float v1 = b1[P->v[1].offset + i0*P->v[1].st[0] + i1*P->v[1].st[1]];
      { const float tg_y = v1 - v0_c; const float tg_t = v0 + tg_y; v0_c = (tg_t - tg_t == 0) ? (tg_t - v0) - tg_y : 0.0f; v0 = tg_t; }
    }
    b0[P->v[0].offset + i0*P->v[0].st[0]] = (v0 - v0_c);
  }
}
