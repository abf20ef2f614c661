/* Half-precision conversions for C kernels, round-to-nearest-even: the F16C instructions where the
   target has them (one instruction each, no branches: a half GEMM converts every packed operand and
   every output), else in software, bit for bit the same on every non-NaN value. */
#include <stdint.h>

#if defined(__F16C__)
typedef short tg_h8 __attribute__((vector_size(16)));
typedef float tg_f4 __attribute__((vector_size(16)));
/* lane 0 is read through a union: the values stay in registers, no memory is addressed */
static inline float tg_h2f(uint16_t h) {
  tg_h8 v = {(short)h}; union { tg_f4 v; float f; } r = { __builtin_ia32_vcvtph2ps(v) }; return r.f;
}
/* immediate 0: round to nearest even, whatever MXCSR says */
static inline uint16_t tg_f2h(float f) {
  tg_f4 v = {f}; union { tg_h8 v; uint16_t h; } r = { __builtin_ia32_vcvtps2ph(v, 0) }; return r.h;
}
#else
static inline float tg_h2f(uint16_t h) {
  uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, bits;
  if (e == 0) { float f = (float)m * 5.9604644775390625e-8f; return s ? -f : f; }
  if (e == 31) bits = s | 0x7f800000u | (m << 13);
  else bits = s | ((e + 112u) << 23) | (m << 13);
  union { uint32_t u; float f; } v = { bits }; return v.f;
}

static inline uint16_t tg_f2h(float f) {
  union { float f; uint32_t u; } v = { f }; uint32_t x = v.u;
  uint16_t s = (uint16_t)((x >> 16) & 0x8000u); uint32_t e = (x >> 23) & 0xffu, m = x & 0x7fffffu;
  if (e == 255) return (uint16_t)(s | 0x7c00u | (m ? 0x200u : 0u));
  int32_t ne = (int32_t)e - 112;
  if (ne >= 31) return (uint16_t)(s | 0x7c00u);
  if (ne <= 0) {
    if (ne < -10) return s;
    m |= 0x800000u; uint32_t shift = (uint32_t)(14 - ne);
    uint32_t hm = m >> shift, rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (hm & 1u))) hm++;
    return (uint16_t)(s | hm);
  }
  uint32_t hm = m >> 13, rem = m & 0x1fffu;
  uint32_t r = (uint32_t)s | ((uint32_t)ne << 10) | hm;
  if (rem > 0x1000u || (rem == 0x1000u && (hm & 1u))) r++;
  return (uint16_t)r;
}
#endif

static inline float tg_hround(float x) { return tg_h2f(tg_f2h(x)); }
