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
