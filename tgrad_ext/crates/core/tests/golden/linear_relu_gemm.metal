#include <metal_stdlib>
using namespace metal;
static inline float tg_hround(float x) { return float(half(x)); }
/* r_256_1024_1024 : gemm|metal/apple|gpu64x64x16t256simt|acc:float|a1:float|b2:float|out:float|relu(add(ACC,L3:float)) */
typedef struct { long offset; long sm; long sn; long sk; long sb[4];} tg_operand;
typedef struct { long m; long n; long k; long batch; long batch_dims[4]; long mchunks; long nchunks; long kc; long mc; long nc; long packing; long parallel; tg_operand op[4]; long c[1];} tg_gemm_params;
#define TILE 64
#define BK 16
#define NT 256
typedef struct {
  const device float* p0; long sm0, sn0;
  int unused;
} tg_epi;
static inline void tg_store(device float*  C, long csm, long csn, thread const tg_epi* e, long m, long n, float x) {
  (void)e;
  C[m*csm + n*csn] = ((x + e->p0[m*e->sm0 + n*e->sn0]) > 0 ? (x + e->p0[m*e->sm0 + n*e->sn0]) : 0);
}
kernel void tgrad_kernel(constant long* p [[buffer(0)]], device float* b0 [[buffer(1)]], const device float* b1 [[buffer(2)]], const device float* b2 [[buffer(3)]], const device float* b3 [[buffer(4)]], uint3 tgid [[threadgroup_position_in_grid]], uint3 tgsz [[threadgroups_per_grid]], uint tid [[thread_index_in_threadgroup]], uint sgid [[simdgroup_index_in_threadgroup]]) {
  threadgroup float As[TILE * BK];
  threadgroup float Bs[BK * TILE];
  constant tg_gemm_params* P = (constant tg_gemm_params*)p;
  const long M = P->m, N = P->n, K = P->k;
  const long m0 = (long)tgid.y * 64, n0 = (long)tgid.x * 64;
  for (long tg_b = tgid.z; tg_b < P->batch; tg_b += tgsz.z) {
    long tg_bi[4];
    { long r = tg_b; for (int d = 3; d >= 0; d--) { tg_bi[d] = r % P->batch_dims[d]; r /= P->batch_dims[d]; } }
    device float*  C = b0 + P->op[0].offset + tg_bi[0]*P->op[0].sb[0] + tg_bi[1]*P->op[0].sb[1] + tg_bi[2]*P->op[0].sb[2] + tg_bi[3]*P->op[0].sb[3]; const long csm = P->op[0].sm, csn = P->op[0].sn;
    const device float*  A = b1 + P->op[1].offset + tg_bi[0]*P->op[1].sb[0] + tg_bi[1]*P->op[1].sb[1] + tg_bi[2]*P->op[1].sb[2] + tg_bi[3]*P->op[1].sb[3]; const long asm_ = P->op[1].sm, ask = P->op[1].sk;
    const device float*  B = b2 + P->op[2].offset + tg_bi[0]*P->op[2].sb[0] + tg_bi[1]*P->op[2].sb[1] + tg_bi[2]*P->op[2].sb[2] + tg_bi[3]*P->op[2].sb[3]; const long bsn = P->op[2].sn, bsk = P->op[2].sk;
    tg_epi e; e.unused = 0;
    e.p0 = b3 + P->op[3].offset + tg_bi[0]*P->op[3].sb[0] + tg_bi[1]*P->op[3].sb[1] + tg_bi[2]*P->op[3].sb[2] + tg_bi[3]*P->op[3].sb[3]; e.sm0 = P->op[3].sm; e.sn0 = P->op[3].sn;
    /* 16 x 16 threads, a 4 x 4 block of C each; A and B tiles staged through threadgroup memory
       (As[TILE][BK] rows of m, Bs[BK][TILE] rows of k; reads past the edges are zero). */
    const uint tx = tid % 16, ty = tid / 16;
    float acc[4][4] = {{0.0f}};
    for (long k0 = 0; k0 < K; k0 += BK) {
      for (uint t = tid; t < TILE * BK; t += NT) {
        const long m = m0 + t / BK, ka = k0 + t % BK;
        As[t] = (m < M && ka < K) ? float(A[m*asm_ + ka*ask]) : 0.0f;
        const long kb = k0 + t / TILE, n = n0 + t % TILE;
        Bs[t] = (kb < K && n < N) ? float(B[kb*bsk + n*bsn]) : 0.0f;
      }
      threadgroup_barrier(mem_flags::mem_threadgroup);
      for (uint kk = 0; kk < BK; kk++) {
        float a[4], b[4];
        for (int i = 0; i < 4; i++) a[i] = As[(ty * 4 + i) * BK + kk];
        for (int j = 0; j < 4; j++) b[j] = Bs[kk * TILE + tx * 4 + j];
        for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) acc[i][j] = fma(a[i], b[j], acc[i][j]);
      }
      threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) {
        const long m = m0 + ty * 4 + i, n = n0 + tx * 4 + j;
        if (m >= M || n >= N) continue;
        tg_store(C, csm, csn, &e, m, n, acc[i][j]);
      }
  }
}
