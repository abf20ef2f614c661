#include <metal_stdlib>
using namespace metal;
static inline float tg_hround(float x) { return float(half(x)); }
/* E_16_8 : loops|metal/apple|r2red[]:add(L1r2:half,L2r2:half)->half */
typedef struct { long offset; long st[2]; } tg_view;
typedef struct { long n[2]; tg_view v[3]; long c[1]; } tg_loop_params;
kernel void tgrad_kernel(constant long* p [[buffer(0)]], device half* b0 [[buffer(1)]], const device half* b1 [[buffer(2)]], const device half* b2 [[buffer(3)]], uint gid [[thread_position_in_grid]], uint gsz [[threads_per_grid]]) {
  constant tg_loop_params* P = (constant tg_loop_params*)p;
  const long tg_outs = P->n[0] * P->n[1];
  for (long tg_o = gid; tg_o < tg_outs; tg_o += gsz) {
    long tg_r0 = tg_o;
    const long i1 = tg_r0 % P->n[1]; tg_r0 /= P->n[1];
    const long i0 = tg_r0;
    const float v1 = float(b1[P->v[1].offset + i0*P->v[1].st[0] + i1*P->v[1].st[1]]);
    const float v2 = float(b2[P->v[2].offset + i0*P->v[2].st[0] + i1*P->v[2].st[1]]);
    const float v0 = (v1 + v2);
    b0[P->v[0].offset + i0*P->v[0].st[0] + i1*P->v[0].st[1]] = half(v0);
  }
}
