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
/* r_256_1024_1024 : gemm|cuda/sm_90|gpu128x128x16t256simt|acc:float|a1:float|b2:float|out:float|relu(add(ACC,L3:float)) */
typedef struct { long long offset; long long sm; long long sn; long long sk; long long sb[4];} tg_operand;
typedef struct { long long m; long long n; long long k; long long batch; long long batch_dims[4]; long long mchunks; long long nchunks; long long kc; long long mc; long long nc; long long packing; long long parallel; tg_operand op[4]; long long c[1];} tg_gemm_params;
#define BM 128
#define BN 128
#define BK 16
#define NT 256
#define LDR (BM + 4)
typedef float acc_t;
#define S_T acc_t
#define S_ZERO (acc_t)0
#define SMEM_KMAJ(r, k) ((k) * LDR + (r))
#define SMEM_RMAJ(r, k) ((k) * LDR + (r))
static __device__ __forceinline__ acc_t tg_cvt(unsigned short h) { return (acc_t)tg_h2f(h); }
static __device__ __forceinline__ acc_t tg_cvt(float x) { return (acc_t)x; }
static __device__ __forceinline__ acc_t tg_cvt(double x) { return (acc_t)x; }
#define S_CVT(x) tg_cvt(x)
#define TG_TA float
#define TG_TB float
#define TG_VA 4
#define TG_VB 4
#define TG_VT float4
#define TG_VN 4
/* Operand tile staging of both GEMM variants. A tile is ROWS (m or n) x BK (k) of one operand.
   `kmaj` picks the shared layout: rows of k (k contiguous) or rows of m/n. Each thread fetches
   VEC-element runs along the contiguous dimension into registers (one 16-byte load when `vec`,
   else a bounds-checked gather through the strides), and commits them to shared memory after
   the current tile's math. */
template <typename T, int ROWS, int VEC, int NT_>
struct tg_tile {
  static constexpr int ITERS = ROWS * BK / (NT_ * VEC);
  S_T r[ITERS][VEC];
  __device__ __forceinline__ void fetch(const T* __restrict__ X, long long sr, long long sk, long long r0, long long k0,
                                        long long R, long long K, bool kmaj, bool vec) {
    #pragma unroll
    for (int it = 0; it < ITERS; it++) {
      const int e = (threadIdx.x + NT_ * it) * VEC;
      const int rr = kmaj ? e / BK : e % ROWS, kk = kmaj ? e % BK : e / ROWS;
      const long long row = r0 + rr, k = k0 + kk;
      const bool full = kmaj ? (row < R && k + VEC <= K) : (k < K && row + VEC <= R);
      if (vec && full) {
        union { uint4 u; T x[VEC]; } w;  /* VEC * sizeof(T) == 16 */
        w.u = *(const uint4*)(X + row * sr + k * sk);
        #pragma unroll
        for (int j = 0; j < VEC; j++) r[it][j] = S_CVT(w.x[j]);
      } else {
        #pragma unroll
        for (int j = 0; j < VEC; j++) {
          const long long rj = kmaj ? row : row + j, kj = kmaj ? k + j : k;
          r[it][j] = (rj < R && kj < K) ? S_CVT(X[rj * sr + kj * sk]) : S_ZERO;
        }
      }
    }
  }
  __device__ __forceinline__ void commit(S_T* __restrict__ dst, bool kmaj) const {
    #pragma unroll
    for (int it = 0; it < ITERS; it++) {
      const int e = (threadIdx.x + NT_ * it) * VEC;
      const int rr = kmaj ? e / BK : e % ROWS, kk = kmaj ? e % BK : e / ROWS;
      #pragma unroll
      for (int j = 0; j < VEC; j++) {
        if (kmaj) dst[SMEM_KMAJ(rr, kk + j)] = r[it][j];
        else dst[SMEM_RMAJ(rr + j, kk)] = r[it][j];
      }
    }
  }
};

/* Whether an operand tile may use 16-byte loads: the contiguous dimension has unit stride, the
   other stride keeps every run aligned, and the base pointer is 16-byte aligned. */
#define TG_VEC_OK(X, sr, sk, vl, kmaj) \
  (((unsigned long long)(const void*)(X) % 16 == 0) && ((kmaj) ? ((sk) == 1 && (sr) % (vl) == 0) : ((sr) == 1 && (sk) % (vl) == 0)))
typedef struct {
  const float* p0; long long sm0, sn0;
  int unused;
} tg_epi;
static __device__ __forceinline__ void tg_store(float* __restrict__ C, long long csm, long long csn, const tg_epi* e, long long m, long long n, float x) {
  (void)e;
  C[m*csm + n*csn] = ((x + e->p0[m*e->sm0 + n*e->sn0]) > 0 ? (x + e->p0[m*e->sm0 + n*e->sn0]) : 0);
}
extern "C" __global__ void __launch_bounds__(256) tgrad_kernel(const long long* __restrict__ p, float* __restrict__ b0, const float* __restrict__ b1, const float* __restrict__ b2, const float* __restrict__ b3) {
  extern __shared__ __align__(16) unsigned char tg_smem[];
  const tg_gemm_params* P = (const tg_gemm_params*)p;
  const long long M = P->m, N = P->n, K = P->k;
  const long long m0 = (long long)blockIdx.y * 128, n0 = (long long)blockIdx.x * 128;
  for (long long tg_b = blockIdx.z; tg_b < P->batch; tg_b += gridDim.z) {
    long long tg_bi[4];
    { long long r = tg_b; for (int d = 3; d >= 0; d--) { tg_bi[d] = r % P->batch_dims[d]; r /= P->batch_dims[d]; } }
    float* __restrict__ C = b0 + P->op[0].offset + tg_bi[0]*P->op[0].sb[0] + tg_bi[1]*P->op[0].sb[1] + tg_bi[2]*P->op[0].sb[2] + tg_bi[3]*P->op[0].sb[3]; const long long csm = P->op[0].sm, csn = P->op[0].sn;
    const float* __restrict__ A = b1 + P->op[1].offset + tg_bi[0]*P->op[1].sb[0] + tg_bi[1]*P->op[1].sb[1] + tg_bi[2]*P->op[1].sb[2] + tg_bi[3]*P->op[1].sb[3]; const long long asm_ = P->op[1].sm, ask = P->op[1].sk;
    const float* __restrict__ B = b2 + P->op[2].offset + tg_bi[0]*P->op[2].sb[0] + tg_bi[1]*P->op[2].sb[1] + tg_bi[2]*P->op[2].sb[2] + tg_bi[3]*P->op[2].sb[3]; const long long bsn = P->op[2].sn, bsk = P->op[2].sk;
    tg_epi e; e.unused = 0;
    e.p0 = b3 + P->op[3].offset + tg_bi[0]*P->op[3].sb[0] + tg_bi[1]*P->op[3].sb[1] + tg_bi[2]*P->op[3].sb[2] + tg_bi[3]*P->op[3].sb[3]; e.sm0 = P->op[3].sm; e.sn0 = P->op[3].sn;
    /* SIMT tile: 256 threads, each an 8 x 8 block of C (rows ty*4+i and 64+ty*4+i, columns
       likewise), A and B staged through double-buffered shared memory ([2][BK][LDR] each). */
    const bool kmaj_a = !(asm_ == 1 && ask != 1), kmaj_b = !(bsn == 1 && bsk != 1);
    const bool vec_a = TG_VEC_OK(A, asm_, ask, TG_VA, kmaj_a), vec_b = TG_VEC_OK(B, bsn, bsk, TG_VB, kmaj_b);
    acc_t* As = (acc_t*)tg_smem;
    acc_t* Bs = As + 2 * BK * LDR;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    acc_t c[8][8];
    #pragma unroll
    for (int i = 0; i < 8; i++)
      #pragma unroll
      for (int j = 0; j < 8; j++) c[i][j] = (acc_t)0;
    tg_tile<TG_TA, BM, TG_VA, NT> la;
    tg_tile<TG_TB, BN, TG_VB, NT> lb;
    const long long nk = (K + BK - 1) / BK;
    la.fetch(A, asm_, ask, m0, 0, M, K, kmaj_a, vec_a);
    lb.fetch(B, bsn, bsk, n0, 0, N, K, kmaj_b, vec_b);
    la.commit(As, kmaj_a);
    lb.commit(Bs, kmaj_b);
    __syncthreads();
    for (long long kt = 0; kt < nk; kt++) {
      const int cur = (int)(kt & 1);
      if (kt + 1 < nk) {
        la.fetch(A, asm_, ask, m0, (kt + 1) * BK, M, K, kmaj_a, vec_a);
        lb.fetch(B, bsn, bsk, n0, (kt + 1) * BK, N, K, kmaj_b, vec_b);
      }
      const acc_t* as = As + cur * BK * LDR;
      const acc_t* bs = Bs + cur * BK * LDR;
      #pragma unroll
      for (int kk = 0; kk < BK; kk++) {
        acc_t a[8], b[8];
        #pragma unroll
        for (int q = 0; q < 4 / TG_VN; q++) {
          *(TG_VT*)&a[q * TG_VN] = *(const TG_VT*)&as[kk * LDR + ty * 4 + q * TG_VN];
          *(TG_VT*)&a[4 + q * TG_VN] = *(const TG_VT*)&as[kk * LDR + 64 + ty * 4 + q * TG_VN];
          *(TG_VT*)&b[q * TG_VN] = *(const TG_VT*)&bs[kk * LDR + tx * 4 + q * TG_VN];
          *(TG_VT*)&b[4 + q * TG_VN] = *(const TG_VT*)&bs[kk * LDR + 64 + tx * 4 + q * TG_VN];
        }
        #pragma unroll
        for (int i = 0; i < 8; i++)
          #pragma unroll
          for (int j = 0; j < 8; j++) c[i][j] += a[i] * b[j];
      }
      if (kt + 1 < nk) {
        la.commit(As + (cur ^ 1) * BK * LDR, kmaj_a);
        lb.commit(Bs + (cur ^ 1) * BK * LDR, kmaj_b);
      }
      __syncthreads();
    }
    #pragma unroll
    for (int i = 0; i < 8; i++) {
      const long long m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
      if (m >= M) continue;
      #pragma unroll
      for (int j = 0; j < 8; j++) {
        const long long n = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
        if (n >= N) continue;
        tg_store(C, csm, csn, &e, m, n, c[i][j]);
      }
    }
    __syncthreads();
  }
}
