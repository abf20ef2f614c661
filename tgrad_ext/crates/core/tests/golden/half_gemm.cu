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
/* r_64_64_64 : gemm|cuda/sm_90|gpu128x128x32t256mma|acc:float|a1:half|b2:half|out:half|ACC */
typedef struct { long long offset; long long sm; long long sn; long long sk; long long sb[4];} tg_operand;
typedef struct { long long m; long long n; long long k; long long batch; long long batch_dims[4]; long long mchunks; long long nchunks; long long kc; long long mc; long long nc; long long packing; long long parallel; tg_operand op[3]; long long c[1];} tg_gemm_params;
#define BM 128
#define BN 128
#define BK 32
#define NT 256
#define LDK (BK + 8)   /* pitch of a k-contiguous tile (rows m or n) */
#define LDR (BM + 8)   /* pitch of a row-contiguous tile (rows k) */
#define TILE 5120      /* halves per tile buffer: max(BM*LDK, BK*LDR) */
#define S_T unsigned short
#define S_ZERO (unsigned short)0
#define S_CVT(x) (x)
#define SMEM_KMAJ(r, k) ((r) * LDK + (k))
#define SMEM_RMAJ(r, k) ((k) * LDR + (r))
/* Tensor-core helpers (inline PTX): ldmatrix .x4 (and .trans) from shared memory, and
   mma.sync.m16n8k16 with f16 inputs and f32 accumulators. */
#ifndef TGRAD_EMU
static __device__ __forceinline__ unsigned tg_smem_addr(const void* p) {
  unsigned a; asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p)); return a;
}
static __device__ __forceinline__ void tg_ldsm_x4(unsigned* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(tg_smem_addr(p)));
}
static __device__ __forceinline__ void tg_ldsm_x4_t(unsigned* r, const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(tg_smem_addr(p)));
}
/* D = A * B + D on tensor cores: A 16x16 row-major, B 16x8 column-major, f16 in, f32 accumulate */
static __device__ __forceinline__ void tg_mma(float* d, const unsigned* a, const unsigned* b) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif
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
  int unused;
} tg_epi;
static __device__ __forceinline__ void tg_store(unsigned short* __restrict__ C, long long csm, long long csn, const tg_epi* e, long long m, long long n, float x) {
  (void)e;
  C[m*csm + n*csn] = tg_f2h(x);
}
extern "C" __global__ void __launch_bounds__(256) tgrad_kernel(const long long* __restrict__ p, unsigned short* __restrict__ b0, const unsigned short* __restrict__ b1, const unsigned short* __restrict__ b2) {
  extern __shared__ __align__(16) unsigned char tg_smem[];
  const tg_gemm_params* P = (const tg_gemm_params*)p;
  const long long M = P->m, N = P->n, K = P->k;
  const long long m0 = (long long)blockIdx.y * 128, n0 = (long long)blockIdx.x * 128;
  for (long long tg_b = blockIdx.z; tg_b < P->batch; tg_b += gridDim.z) {
    long long tg_bi[4];
    { long long r = tg_b; for (int d = 3; d >= 0; d--) { tg_bi[d] = r % P->batch_dims[d]; r /= P->batch_dims[d]; } }
    unsigned short* __restrict__ C = b0 + P->op[0].offset + tg_bi[0]*P->op[0].sb[0] + tg_bi[1]*P->op[0].sb[1] + tg_bi[2]*P->op[0].sb[2] + tg_bi[3]*P->op[0].sb[3]; const long long csm = P->op[0].sm, csn = P->op[0].sn;
    const unsigned short* __restrict__ A = b1 + P->op[1].offset + tg_bi[0]*P->op[1].sb[0] + tg_bi[1]*P->op[1].sb[1] + tg_bi[2]*P->op[1].sb[2] + tg_bi[3]*P->op[1].sb[3]; const long long asm_ = P->op[1].sm, ask = P->op[1].sk;
    const unsigned short* __restrict__ B = b2 + P->op[2].offset + tg_bi[0]*P->op[2].sb[0] + tg_bi[1]*P->op[2].sb[1] + tg_bi[2]*P->op[2].sb[2] + tg_bi[3]*P->op[2].sb[3]; const long long bsn = P->op[2].sn, bsk = P->op[2].sk;
    tg_epi e; e.unused = 0;
    /* Tensor-core tile: 8 warps (2 x 4), each 64 x 32 of C as 4 x 4 m16n8 fragments; A and B
       staged through double-buffered shared memory as halves ([2][TILE] each), fed to
       mma.sync by ldmatrix (.trans where the tile is stored row-contiguous). */
    const bool kmaj_a = !(asm_ == 1 && ask != 1), kmaj_b = !(bsn == 1 && bsk != 1);
    const bool vec_a = TG_VEC_OK(A, asm_, ask, 8, kmaj_a), vec_b = TG_VEC_OK(B, bsn, bsk, 8, kmaj_b);
    unsigned short* As = (unsigned short*)tg_smem;
    unsigned short* Bs = As + 2 * TILE;
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int wm = (warp / 4) * 64, wn = (warp % 4) * 32;
    float c[4][4][4];
    #pragma unroll
    for (int i = 0; i < 4; i++)
      #pragma unroll
      for (int j = 0; j < 4; j++)
        #pragma unroll
        for (int q = 0; q < 4; q++) c[i][j][q] = 0.0f;
    tg_tile<unsigned short, BM, 8, NT> la;
    tg_tile<unsigned short, BN, 8, NT> lb;
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
      const unsigned short* as = As + cur * TILE;
      const unsigned short* bs = Bs + cur * TILE;
      #pragma unroll
      for (int ks = 0; ks < BK; ks += 16) {
        unsigned a[4][4], b[4][2];
        #pragma unroll
        for (int i = 0; i < 4; i++) {
          const int r = wm + i * 16;
          if (kmaj_a) tg_ldsm_x4(a[i], &as[SMEM_KMAJ(r + lane % 16, ks + (lane / 16) * 8)]);
          else tg_ldsm_x4_t(a[i], &as[SMEM_RMAJ(r + ((lane / 8) % 2) * 8, ks + lane % 8 + (lane / 16) * 8)]);
        }
        #pragma unroll
        for (int j = 0; j < 2; j++) {
          const int r = wn + j * 16;
          unsigned q[4];
          if (kmaj_b) tg_ldsm_x4(q, &bs[SMEM_KMAJ(r + (lane / 16) * 8 + lane % 8, ks + ((lane / 8) % 2) * 8)]);
          else tg_ldsm_x4_t(q, &bs[SMEM_RMAJ(r + (lane / 16) * 8, ks + lane % 8 + ((lane / 8) % 2) * 8)]);
          b[2 * j][0] = q[0]; b[2 * j][1] = q[1]; b[2 * j + 1][0] = q[2]; b[2 * j + 1][1] = q[3];
        }
        #pragma unroll
        for (int i = 0; i < 4; i++)
          #pragma unroll
          for (int j = 0; j < 4; j++) tg_mma(c[i][j], a[i], b[j]);
      }
      if (kt + 1 < nk) {
        la.commit(As + (cur ^ 1) * TILE, kmaj_a);
        lb.commit(Bs + (cur ^ 1) * TILE, kmaj_b);
      }
      __syncthreads();
    }
    /* accumulator layout of m16n8: c0, c1 at (g, 2t), (g, 2t+1); c2, c3 at (g+8, ...) */
    const int gid = lane / 4, tig = lane % 4;
    #pragma unroll
    for (int i = 0; i < 4; i++)
      #pragma unroll
      for (int j = 0; j < 4; j++)
        #pragma unroll
        for (int q = 0; q < 4; q++) {
          const long long m = m0 + wm + i * 16 + gid + (q / 2) * 8;
          const long long n = n0 + wn + j * 8 + tig * 2 + q % 2;
          if (m >= M || n >= N) continue;
          tg_store(C, csm, csn, &e, m, n, c[i][j][q]);
        }
    __syncthreads();
  }
}
