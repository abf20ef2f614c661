/* rendered by tgrad for NVRTC: no headers. Inline PTX helpers sit behind TGRAD_EMU, where the
   GPU emulator's header provides emulated ones of the same names, so both compile this text. */
#define tg_shfl_down(v, s) __shfl_down_sync(0xffffffffu, (v), (s))
#ifndef TGRAD_EMU
static __device__ __forceinline__ float tg_h2f(unsigned short h) {
  float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f;
}
static __device__ __forceinline__ unsigned short tg_f2h(float f) {
  unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h;
}
#endif
static __device__ __forceinline__ float tg_hround(float x) { return tg_h2f(tg_f2h(x)); }
/* E_16_8 : loops|cuda/sm_90|r2red[]:add(L1r2:half,L2r2:half)->half */
typedef struct { long long offset; long long st[2]; } tg_view;
typedef struct { long long n[2]; tg_view v[3]; long long c[1]; } tg_loop_params;
extern "C" __global__ void __launch_bounds__(256) tgrad_kernel(const long long* __restrict__ p, unsigned short* __restrict__ b0, const unsigned short* __restrict__ b1, const unsigned short* __restrict__ b2) {
  const tg_loop_params* P = (const tg_loop_params*)p;
  const long long tg_outs = P->n[0] * P->n[1];
  for (long long tg_o = (long long)blockIdx.x * blockDim.x + threadIdx.x; tg_o < tg_outs; tg_o += (long long)gridDim.x * blockDim.x) {
    long long tg_r0 = tg_o;
    const long long i1 = tg_r0 % P->n[1]; tg_r0 /= P->n[1];
    const long long i0 = tg_r0;
    const float v1 = tg_h2f(b1[P->v[1].offset + i0*P->v[1].st[0] + i1*P->v[1].st[1]]);
    const float v2 = tg_h2f(b2[P->v[2].offset + i0*P->v[2].st[0] + i1*P->v[2].st[1]]);
    const float v0 = (v1 + v2);
    b0[P->v[0].offset + i0*P->v[0].st[0] + i1*P->v[0].st[1]] = tg_f2h(v0);
  }
}
