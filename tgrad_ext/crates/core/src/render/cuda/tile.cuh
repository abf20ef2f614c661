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
