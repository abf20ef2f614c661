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
/* r_5_6_7 : loops|cuda/sm_90|r3red[0, 2]:max:float[L1r3:float]ACC->float */
typedef struct { long long offset; long long st[3]; } tg_view;
typedef struct { long long n[3]; tg_view v[2]; long long c[1]; } tg_loop_params;
extern "C" __global__ void __launch_bounds__(256) tgrad_kernel(const long long* __restrict__ p, float* __restrict__ b0, const float* __restrict__ b1) {
  const tg_loop_params* P = (const tg_loop_params*)p;
  const long long tg_outs = P->n[1];
  const long long tg_reds = P->n[0] * P->n[2];
  const int tg_lane = threadIdx.x;
  for (long long tg_o = (long long)blockIdx.x * blockDim.y + threadIdx.y; tg_o < tg_outs; tg_o += (long long)gridDim.x * blockDim.y) {
    const long long i1 = tg_o;
    float v0 = (-__int_as_float(0x7f800000));
    for (long long tg_ri = tg_lane; tg_ri < tg_reds; tg_ri += 32) {
      long long tg_r0 = tg_ri;
      const long long i2 = tg_r0 % P->n[2]; tg_r0 /= P->n[2];
      const long long i0 = tg_r0;
      const float v1 = b1[P->v[1].offset + i1*P->v[1].st[1] + i0*P->v[1].st[0] + i2*P->v[1].st[2]];
      v0 = (v1 > v0 || v1 != v1) ? v1 : v0;
    }
    for (int tg_s = 16; tg_s > 0; tg_s >>= 1) { const float tg_x = tg_shfl_down(v0, tg_s); v0 = (tg_x > v0 || tg_x != tg_x) ? tg_x : v0; }
    if (tg_lane == 0) {
      b0[P->v[0].offset + i1*P->v[0].st[1]] = v0;
    }
  }
}
