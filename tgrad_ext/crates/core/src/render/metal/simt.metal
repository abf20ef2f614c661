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
