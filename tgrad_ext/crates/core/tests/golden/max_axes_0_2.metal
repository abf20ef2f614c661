#include <metal_stdlib>
using namespace metal;
static inline float tg_hround(float x) { return float(half(x)); }
/* r_5_6_7 : loops|metal/apple|r3red[0, 2]:max:float[L1r3:float]ACC->float */
typedef struct { long offset; long st[3]; } tg_view;
typedef struct { long n[3]; tg_view v[2]; long c[1]; } tg_loop_params;
kernel void tgrad_kernel(constant long* p [[buffer(0)]], device float* b0 [[buffer(1)]], const device float* b1 [[buffer(2)]], uint gid [[thread_position_in_grid]], uint gsz [[threads_per_grid]]) {
  constant tg_loop_params* P = (constant tg_loop_params*)p;
  const long tg_outs = P->n[1];
  for (long tg_o = gid; tg_o < tg_outs; tg_o += gsz) {
    const long i1 = tg_o;
    float v0 = (-INFINITY);
    for (long i0 = 0; i0 < P->n[0]; i0++) {
      for (long i2 = 0; i2 < P->n[2]; i2++) {
        const float v1 = b1[P->v[1].offset + i1*P->v[1].st[1] + i0*P->v[1].st[0] + i2*P->v[1].st[2]];
        v0 = (v1 > v0 || v1 != v1) ? v1 : v0;
      }
    }
    b0[P->v[0].offset + i1*P->v[0].st[1]] = v0;
  }
}
