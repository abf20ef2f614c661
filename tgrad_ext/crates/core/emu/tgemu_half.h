/* tgrad GPU emulator: IEEE binary16 conversions, bit-exact. float -> half rounds to nearest,
 * ties to even (PTX cvt.rn.f16.f32); NaN becomes the canonical NaN 0x7fff. half -> float is
 * exact. */
#pragma once
#include <stdint.h>
#include <string.h>

namespace tgemu {

static inline uint32_t float_bits(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  return x;
}

static inline float bits_float(uint32_t x) {
  float f;
  memcpy(&f, &x, 4);
  return f;
}

static inline uint16_t f2h(float f) {
  const uint32_t x = float_bits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return 0x7fffu;               /* NaN */
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 (and inf) round to inf */
  if (ax >= 0x38800000u) {                             /* a normal half: >= 2^-14 */
    uint32_t h = (ax >> 13) - ((127u - 15u) << 10);
    const uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* a carry moves into the exponent */
    return (uint16_t)(sign | h);
  }
  if (ax <= 0x33000000u) return (uint16_t)sign; /* <= 2^-25: ties to even at zero */
  /* subnormal half: units of 2^-24 */
  const uint32_t e = ax >> 23;
  const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126u - e; /* 14..24 */
  uint32_t h = m >> shift;
  const uint32_t rem = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
  if (rem > halfway || (rem == halfway && (h & 1u))) h++;
  return (uint16_t)(sign | h);
}

static inline float h2f(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1fu) return bits_float(sign | 0x7f800000u | (m << 13));
  if (e != 0) return bits_float(sign | ((e + 112u) << 23) | (m << 13));
  const float f = (float)m * 5.9604644775390625e-8f; /* m * 2^-24, exact */
  return sign ? -f : f;
}

/* double -> half in one rounding: round to float by truncation with a sticky low bit (round to
 * odd), then to half; 24 bits hold the 11 of half plus two, so the result is correctly rounded. */
static inline uint16_t d2h(double d) {
  if (d != d) return 0x7fffu;
  float f = (float)d;
  if ((double)f != d && f == f && f - f == 0.0f) {
    if (__builtin_fabs((double)f) > __builtin_fabs(d)) { /* rounded away from zero: step back */
      uint32_t x = float_bits(f);
      f = bits_float(x - 1u);
    }
    f = bits_float(float_bits(f) | 1u);
  }
  return f2h(f);
}

} // namespace tgemu
