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
