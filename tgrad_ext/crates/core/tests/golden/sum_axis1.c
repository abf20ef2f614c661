#include <stdint.h>
#include <stddef.h>
static inline int64_t tg_min(int64_t a, int64_t b) { return a < b ? a : b; }
/* r_32_48 : loops|r2red[1]:sum:float[L1r2:float]ACC->float */
void tgrad_kernel(const int64_t* restrict p, char** restrict bufs, char* restrict ws, int64_t tid, int64_t nth) {
  (void)ws;
  float* restrict b0 = (float*)bufs[0];
  const float* restrict b1 = (const float*)bufs[1];
  const int64_t n0 = p[0];
  const int64_t n1 = p[1];
  for (int64_t i0 = n0*tid/nth; i0 < n0*(tid+1)/nth; i0++) {
    float v0 = 0e0f;
    for (int64_t i1 = 0; i1 < n1; i1++) {
      const float v1 = b1[p[5] + i0*p[6] + i1*p[7]];
      v0 += v1;
    }
    b0[p[2] + i0*p[3]] = v0;
  }
}
