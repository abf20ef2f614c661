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
