/* tgrad GPU emulator: CUDA C as C++. Keywords become attributes or nothing, the built-in index
 * variables read the running fiber, `__shared__` storage is per OS thread (one block at a time
 * runs on it), and the helpers that tgrad's renderer writes as inline PTX (under
 * `#ifndef TGRAD_EMU`) are defined here as emulated warp collectives. */
#pragma once
#include <math.h> /* the CUDA math functions the renderer writes (exp2f, log2f, sqrtf, sinf, truncf, powf, and the double ones) */
#include "tgemu_runtime.h"
#include "tgemu_half.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ thread_local
#define __syncthreads() ::tgemu::barrier("__syncthreads()", __FILE__, __LINE__)
#define warpSize 32

typedef tgemu::u3 uint3;
typedef tgemu::u3 dim3;
#define threadIdx (static_cast<const uint3&>(::tgemu::self()->tid))
#define blockIdx (static_cast<const uint3&>(::tgemu::self()->blk->bid))
#define blockDim (static_cast<const dim3&>(::tgemu::self()->blk->bdim))
#define gridDim (static_cast<const dim3&>(::tgemu::self()->blk->gdim))

namespace tgemu {

/* A whole-vector copy through a pointer into device or shared memory must be aligned to the
 * vector's size, as on the GPU; copies to and from the thread's own stack (registers on a GPU)
 * are not checked. */
static inline void check_vector(const void* p, size_t align, const char* type) {
  if (((uintptr_t)p & (align - 1)) != 0 && !on_own_stack(p))
    fail("misaligned %zu-byte vector access through a %s pointer at %p", align, type, p);
}

} // namespace tgemu

/* CUDA vector types: component alignment only (a misaligned access is reported, not faulted),
 * with an alignment check on every whole-vector copy. */
#define TGEMU_VECTOR2(NAME, T)                                                                   \
  struct NAME {                                                                                  \
    T x, y;                                                                                      \
    NAME() = default;                                                                            \
    NAME(T a, T b) : x(a), y(b) {}                                                               \
    NAME(const NAME& o) : x(o.x), y(o.y) { ::tgemu::check_vector(&o, 2 * sizeof(T), #NAME); }   \
    NAME& operator=(const NAME& o) {                                                             \
      ::tgemu::check_vector(this, 2 * sizeof(T), #NAME);                                         \
      ::tgemu::check_vector(&o, 2 * sizeof(T), #NAME);                                           \
      x = o.x;                                                                                   \
      y = o.y;                                                                                   \
      return *this;                                                                              \
    }                                                                                            \
  };
#define TGEMU_VECTOR4(NAME, T)                                                                   \
  struct NAME {                                                                                  \
    T x, y, z, w;                                                                                \
    NAME() = default;                                                                            \
    NAME(T a, T b, T c, T d) : x(a), y(b), z(c), w(d) {}                                         \
    NAME(const NAME& o) : x(o.x), y(o.y), z(o.z), w(o.w) {                                       \
      ::tgemu::check_vector(&o, 4 * sizeof(T), #NAME);                                           \
    }                                                                                            \
    NAME& operator=(const NAME& o) {                                                             \
      ::tgemu::check_vector(this, 4 * sizeof(T), #NAME);                                         \
      ::tgemu::check_vector(&o, 4 * sizeof(T), #NAME);                                           \
      x = o.x;                                                                                   \
      y = o.y;                                                                                   \
      z = o.z;                                                                                   \
      w = o.w;                                                                                   \
      return *this;                                                                              \
    }                                                                                            \
  };
TGEMU_VECTOR2(int2, int)
TGEMU_VECTOR2(uint2, unsigned)
TGEMU_VECTOR2(float2, float)
TGEMU_VECTOR2(double2, double)
TGEMU_VECTOR4(int4, int)
TGEMU_VECTOR4(uint4, unsigned)
TGEMU_VECTOR4(float4, float)
static inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return uint4(a, b, c, d); }
static inline float4 make_float4(float a, float b, float c, float d) { return float4(a, b, c, d); }
static inline double2 make_double2(double a, double b) { return double2(a, b); }

static inline float __int_as_float(int i) {
  float f;
  memcpy(&f, &i, 4);
  return f;
}
static inline int __float_as_int(float f) {
  int i;
  memcpy(&i, &f, 4);
  return i;
}
static inline double __longlong_as_double(long long i) {
  double d;
  memcpy(&d, &i, 8);
  return d;
}
static inline long long __double_as_longlong(double d) {
  long long i;
  memcpy(&i, &d, 8);
  return i;
}

#include "tgemu_warp.h"

#define __shfl_down_sync(...) ::tgemu::shfl_down(__FILE__, __LINE__, __VA_ARGS__)

/* The renderer's inline-PTX helpers, emulated (their PTX text is bound to these by a test that
 * parses it: runtime/emu/ptx.rs). */
static inline float tg_h2f(unsigned short h) { return tgemu::h2f(h); }
static inline unsigned short tg_f2h(float f) { return tgemu::f2h(f); }
static inline unsigned tg_smem_addr(const void* p) {
  return (unsigned)((const unsigned char*)p - ::tgemu::self()->blk->smem);
}
#define tg_ldsm_x4(r, p) ::tgemu::ldmatrix_x4(false, (r), (p), __FILE__, __LINE__)
#define tg_ldsm_x4_t(r, p) ::tgemu::ldmatrix_x4(true, (r), (p), __FILE__, __LINE__)
#define tg_mma(d, a, b) ::tgemu::mma_m16n8k16_f32_f16((d), (a), (b), __FILE__, __LINE__)
