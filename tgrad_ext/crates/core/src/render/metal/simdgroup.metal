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
