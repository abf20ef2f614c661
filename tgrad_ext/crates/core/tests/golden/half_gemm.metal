#include <metal_stdlib>
using namespace metal;
static inline float tg_hround(float x) { return float(half(x)); }
/* r_64_64_64 : gemm|metal/apple|gpu64x64x16t128mma|acc:float|a1:half|b2:half|out:half|ACC */
typedef struct { long offset; long sm; long sn; long sk; long sb[4];} tg_operand;
typedef struct { long m; long n; long k; long batch; long batch_dims[4]; long mchunks; long nchunks; long kc; long mc; long nc; long packing; long parallel; tg_operand op[3]; long c[1];} tg_gemm_params;
#define TILE 64
#define BK 16
#define NT 128
typedef struct {
  int unused;
} tg_epi;
static inline void tg_store(device half*  C, long csm, long csn, thread const tg_epi* e, long m, long n, float x) {
  (void)e;
  C[m*csm + n*csn] = half(x);
}
kernel void tgrad_kernel(constant long* p [[buffer(0)]], device half* b0 [[buffer(1)]], const device half* b1 [[buffer(2)]], const device half* b2 [[buffer(3)]], uint3 tgid [[threadgroup_position_in_grid]], uint3 tgsz [[threadgroups_per_grid]], uint tid [[thread_index_in_threadgroup]], uint sgid [[simdgroup_index_in_threadgroup]]) {
  threadgroup half As[TILE * BK];
  threadgroup half Bs[BK * TILE];
  threadgroup float Cs[TILE * TILE];
  constant tg_gemm_params* P = (constant tg_gemm_params*)p;
  const long M = P->m, N = P->n, K = P->k;
  const long m0 = (long)tgid.y * 64, n0 = (long)tgid.x * 64;
  for (long tg_b = tgid.z; tg_b < P->batch; tg_b += tgsz.z) {
    long tg_bi[4];
    { long r = tg_b; for (int d = 3; d >= 0; d--) { tg_bi[d] = r % P->batch_dims[d]; r /= P->batch_dims[d]; } }
    device half*  C = b0 + P->op[0].offset + tg_bi[0]*P->op[0].sb[0] + tg_bi[1]*P->op[0].sb[1] + tg_bi[2]*P->op[0].sb[2] + tg_bi[3]*P->op[0].sb[3]; const long csm = P->op[0].sm, csn = P->op[0].sn;
    const device half*  A = b1 + P->op[1].offset + tg_bi[0]*P->op[1].sb[0] + tg_bi[1]*P->op[1].sb[1] + tg_bi[2]*P->op[1].sb[2] + tg_bi[3]*P->op[1].sb[3]; const long asm_ = P->op[1].sm, ask = P->op[1].sk;
    const device half*  B = b2 + P->op[2].offset + tg_bi[0]*P->op[2].sb[0] + tg_bi[1]*P->op[2].sb[1] + tg_bi[2]*P->op[2].sb[2] + tg_bi[3]*P->op[2].sb[3]; const long bsn = P->op[2].sn, bsk = P->op[2].sk;
    tg_epi e; e.unused = 0;
    /* 2 x 2 simdgroups, 32 x 32 of C each as 4 x 4 simdgroup_float8x8 accumulators; half tiles
       staged through threadgroup memory, results stored through Cs[TILE][TILE] for the epilogue. */
    const uint sm = (sgid / 2) * 32, sn = (sgid % 2) * 32;
    simdgroup_float8x8 acc[4][4];
    for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) acc[i][j] = simdgroup_float8x8(0.0f);
    for (long k0 = 0; k0 < K; k0 += BK) {
      for (uint t = tid; t < TILE * BK; t += NT) {
        const long m = m0 + t / BK, ka = k0 + t % BK;
        As[t] = (m < M && ka < K) ? half(A[m*asm_ + ka*ask]) : half(0);
        const long kb = k0 + t / TILE, n = n0 + t % TILE;
        Bs[t] = (kb < K && n < N) ? half(B[kb*bsk + n*bsn]) : half(0);
      }
      threadgroup_barrier(mem_flags::mem_threadgroup);
      for (uint kk = 0; kk < BK; kk += 8) {
        simdgroup_half8x8 a[4], b[4];
        for (int i = 0; i < 4; i++) simdgroup_load(a[i], As + (sm + i * 8) * BK + kk, BK);
        for (int j = 0; j < 4; j++) simdgroup_load(b[j], Bs + kk * TILE + sn + j * 8, TILE);
        for (int i = 0; i < 4; i++)
          for (int j = 0; j < 4; j++) simdgroup_multiply_accumulate(acc[i][j], a[i], b[j], acc[i][j]);
      }
      threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) simdgroup_store(acc[i][j], Cs + (sm + i * 8) * TILE + sn + j * 8, TILE);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint t = tid; t < TILE * TILE; t += NT) {
      const long m = m0 + t / TILE, n = n0 + t % TILE;
      if (m >= M || n >= N) continue;
      tg_store(C, csm, csn, &e, m, n, Cs[t]);
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }
}
