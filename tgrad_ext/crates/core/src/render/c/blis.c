/* CPU GEMM, static part: the BLIS loops over one block of C and the kernel's entry point, which
   hands blocks of C to threads in one of three ways (abi: Parallel codes in P->parallel). */
#ifndef TG_BLIS_C
#define TG_BLIS_C
#include "pack.c"
#if TG_VECTOR_PATH
#include "vector.c"
#endif

/* jc -> pc -> ic -> jr -> ir over C[m0:m1, n0:n1]: a KC x NC panel of B packed per (jc, pc), an
   MC x KC block of A per (ic, pc), the microkernel per MR x NR tile. With `ainp`, full MR-row
   tiles read A's rows in place and only the edge rows are packed. */
static void tg_blis(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, int64_t KC, int64_t MC, int64_t NC,
    const TG_TA* restrict A, int64_t asm_, int64_t ask, const TG_TB* restrict B, int64_t bsk, int64_t bsn,
    TG_TC* restrict C, int64_t csm, int64_t csn, const tg_epi* e, TG_ACC* restrict ap, TG_ACC* restrict bp, int ainp,
    tg_pf* pf) {
  (void)ainp;
  for (int64_t jc = n0; jc < n1; jc += NC) {
    const int64_t nc = tg_min(NC, n1 - jc);
    int64_t pc = 0;
    do {
      const int64_t kc = tg_min(KC, K - pc);
      const int first = pc == 0, last = pc + kc >= K;
      pack_b(kc, nc, B + pc*bsk + jc*bsn, bsk, bsn, bp);
      for (int64_t ic = m0; ic < m1; ic += MC) {
        const int64_t mc = tg_min(MC, m1 - ic);
        const int64_t mfull = ainp ? mc / MR * MR : 0;
        if (mfull < mc) pack_a(mc - mfull, kc, A + (ic+mfull)*asm_ + pc*ask, asm_, ask, ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = tg_min(NR, nc - jr);
#if TG_A_INPLACE
          for (int64_t ir = 0; ir < mfull; ir += MR, tg_pf_step(pf))
            ukr_a(kc, A + (ic+ir)*asm_ + pc, asm_, bp + jr*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,
                  MR, nr, first, last, e, ic + ir, jc + jr);
#endif
          for (int64_t ir = mfull; ir < mc; ir += MR, tg_pf_step(pf))
            tg_ukr(kc, ap + (ir-mfull)*kc, 0, bp + jr*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,
                tg_min(MR, mc - ir), nr, first, last, e, ic + ir, jc + jr);
        }
      }
      pc += kc;
    } while (pc < K);
  }
}

/* Parallel::Barrier: all threads pack each KC x NC panel of B into the shared workspace, meet at
   a barrier, and each packs A and computes its own rows. */
static void tg_barrier_gemm(const tg_gemm_params* P, char* sh, int64_t tid, int64_t nth, const TG_TA* A, int64_t asm_,
    int64_t ask, const TG_TB* B, int64_t bsk, int64_t bsn, TG_TC* C, int64_t csm, int64_t csn, const tg_epi* e, TG_ACC* ap) {
  const int64_t M = P->m, N = P->n, K = P->k, KC = P->kc, MC = P->mc, NC = P->nc;
  int64_t* bar = (int64_t*)sh + TG_BARRIER_WORD;
  TG_ACC* bs = (TG_ACC*)(sh + TG_SHARED_HEADER);
  const int64_t mper = ((M + nth - 1) / nth + MR - 1) / MR * MR;
  const int64_t r0 = tg_min(M, tid * mper), r1 = tg_min(M, r0 + mper);
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = tg_min(NC, N - jc);
    int64_t pc = 0;
    do {
      const int64_t kc = tg_min(KC, K - pc);
      const int first = pc == 0, last = pc + kc >= K;
      for (int64_t jr = tid * NR; jr < nc; jr += nth * NR)
        pack_b(kc, tg_min(NR, nc - jr), B + pc*bsk + (jc+jr)*bsn, bsk, bsn, bs + jr*kc);
      tg_barrier(bar, nth);
      for (int64_t ic = r0; ic < r1; ic += MC) {
        const int64_t mc = tg_min(MC, r1 - ic);
        pack_a(mc, kc, A + ic*asm_ + pc*ask, asm_, ask, ap);
        for (int64_t jr = 0; jr < nc; jr += NR)
          for (int64_t ir = 0; ir < mc; ir += MR)
            tg_ukr(kc, ap + ir*kc, 0, bs + jr*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,
                tg_min(MR, mc - ir), tg_min(NR, nc - jr), first, last, e, ic + ir, jc + jr);
      }
      tg_barrier(bar, nth); /* nobody repacks B while another thread still reads it */
      pc += kc;
    } while (pc < K);
  }
}

/* Parallel::Shared: blocks of C claimed from the counter, the K loop inside each, B packed once
   into the shared workspace on demand (flags after the header, packed B after the flags: the K
   block at row pc holds micro-panel q at pc*Npad + q*NR*kc). */
static void tg_shared_gemm(const tg_gemm_params* P, char* sh, int64_t* next_chunk, const TG_TA* A, int64_t asm_,
    int64_t ask, const TG_TB* B, int64_t bsk, int64_t bsn, TG_TC* C, int64_t csm, int64_t csn, const tg_epi* e, TG_ACC* ap) {
  const int64_t M = P->m, N = P->n, K = P->k, KC = P->kc, MC = P->mc, NC = P->nc;
  const int64_t np = (N + NR - 1) / NR, nkb = (K + KC - 1) / KC;
  int32_t* flags = (int32_t*)(sh + TG_SHARED_HEADER);
  TG_ACC* bs = (TG_ACC*)(sh + TG_SHARED_HEADER + ((nkb * np * 4 + 63) & ~(int64_t)63));
  const int64_t nic = (M + MC - 1) / MC, njc = (N + NC - 1) / NC;
  for (int64_t t = __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED); t < nic * njc; /* @tg:shared.claim */
       t = __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED)) { /* @tg:shared.claim_next */
    const int64_t jc = t / nic * NC, ic = t % nic * MC;
    const int64_t nc = tg_min(NC, N - jc), mc = tg_min(MC, M - ic);
    for (int64_t pc = 0, kb = 0; pc < K; pc += KC, kb++) {
      const int64_t kc = tg_min(KC, K - pc);
      const int first = pc == 0, last = pc + kc >= K;
      TG_ACC* bk = bs + pc * np * NR;
      pack_a(mc, kc, A + ic*asm_ + pc*ask, asm_, ask, ap);
      for (int64_t jr = 0; jr < nc; jr += NR) {
        const int64_t q = (jc + jr) / NR;
        tg_need_b(flags + kb * np, q, np, kc, N, B + pc*bsk, bsk, bsn, bk);
        for (int64_t ir = 0; ir < mc; ir += MR)
          tg_ukr(kc, ap + ir*kc, 0, bk + q*NR*kc, 0, C + (ic+ir)*csm + (jc+jr)*csn, csm, csn,
              tg_min(MR, mc - ir), tg_min(NR, nc - jr), first, last, e, ic + ir, jc + jr);
      }
    }
  }
}

/* Small row-major problems with Packing::Neither: every tile reads A and B in place. The whole
   K is one block, so C is written once per tile, never accumulated: edge tiles shift back to end
   at the chunk's edge and overlap their neighbour, recomputing (and rewriting) identical values.
   Each tile steps `pf`, the prefetch of the thread's likely next chunk (streamed batches), as
   tg_blis's tiles do. Returns 0 where chunks are narrower than a tile (the packed loops run
   instead). */
#if TG_B_INPLACE
static int tg_inplace_tiles(int64_t m0, int64_t m1, int64_t n0, int64_t n1, int64_t K, const TG_ACC* A, int64_t asm_,
    const TG_ACC* B, int64_t bsk, TG_TC* C, int64_t csm, int64_t csn, const tg_epi* e, tg_pf* pf) {
  if (m1 - m0 < MR || n1 - n0 < NR) return 0;
  for (int64_t jr = n0; jr < n1; jr += NR) {
    const int64_t j = tg_min(jr, n1 - NR);
    for (int64_t ir = m0; ir < m1; ir += MR, tg_pf_step(pf)) {
      const int64_t i = tg_min(ir, m1 - MR);
      ukr_u(K, A + i*asm_, asm_, B + j, bsk, C + i*csm + j*csn, csm, csn, MR, NR, 1, 1, e, i, j);
    }
  }
  return 1;
}
#endif

/* The entry point (abi::KernelFn). Parallel::Barrier: every thread takes part in every chunk
   (one whole GEMM per batch index). Parallel::Shared: every thread enters the one chunk (one
   batch index) and claims blocks of C inside it. Parallel::Chunks: threads claim chunks (batch
   index x M range x N range) from the counter. In the last two the caller alone can finish (the
   pool does not wait for late helpers). */
void tgrad_kernel(const int64_t* restrict p, char** restrict bufs, char* restrict ws, int64_t tid, int64_t nth) {
  const tg_gemm_params* P = (const tg_gemm_params*)p;
  const int64_t M = P->m, N = P->n, K = P->k, NB = P->batch, mch = P->mchunks, nch = P->nchunks;
  const int64_t KC = P->kc, MC = P->mc, NC = P->nc;
  const int64_t mstep = ((M + mch - 1) / mch + MR - 1) / MR * MR, nstep = ((N + nch - 1) / nch + NR - 1) / NR * NR;
  TG_ACC* ap = (TG_ACC*)ws;
  TG_ACC* bp = (TG_ACC*)(ws + ((((MC + MR - 1) / MR * MR) * KC * (int64_t)sizeof(TG_ACC) + 63) & ~(int64_t)63));
  char* sh = bufs[TG_NBUFS];
  const int barrier = P->parallel == TG_PARALLEL_BARRIER && nth > 1 && M > 1 && N > 1;
  const int shared = P->parallel == TG_PARALLEL_SHARED && NB == 1 && M > 1 && N > 1;
  int64_t* next_chunk = (int64_t*)sh + TG_CLAIM_WORD;
  const int every = barrier || shared;
  for (int64_t ch = every ? 0 : __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED); ch < (shared ? 1 : NB * mch * nch); /* @tg:kernel.claim */
       ch = every ? ch + 1 : __atomic_fetch_add(next_chunk, 1, __ATOMIC_RELAXED)) { /* @tg:kernel.claim_next */
    const int64_t bi = ch / (mch * nch), mi = (ch / nch) % mch, ni = ch % nch;
    const int64_t m0 = mi * mstep, n0 = ni * nstep, m1 = tg_min(M, m0 + mstep), n1 = tg_min(N, n0 + nstep);
    if (m0 >= m1 || n0 >= n1) continue;
    int64_t bidx[TG_MAX_BATCH];
    tg_batch_index(P, bi, bidx);
    TG_TC* C = (TG_TC*)bufs[0] + tg_off(&P->op[0], bidx);
    const int64_t csm = P->op[0].sm, csn = P->op[0].sn;
    const TG_TA* A = (const TG_TA*)bufs[TG_ABUF] + tg_off(&P->op[1], bidx);
    const int64_t asm_ = P->op[1].sm, ask = P->op[1].sk;
    const TG_TB* B = (const TG_TB*)bufs[TG_BBUF] + tg_off(&P->op[2], bidx);
    const int64_t bsn = P->op[2].sn, bsk = P->op[2].sk;
    /* batched GEMMs of small matrices stream every operand from L3 or memory: while this chunk
       computes, prefetch the operands of the chunk this thread will likely take next (claims
       alternate between threads) into L2, when they are small enough to fit beside it */
    tg_pf pf = {0, 0, 0, 0};
    if (!every && mch * nch == 1 && bi + nth < NB && ask == 1 && asm_ == K && bsn == 1 && bsk == N
        && M*K*(int64_t)sizeof(TG_TA) + K*N*(int64_t)sizeof(TG_TB) <= TG_PREFETCH_NEXT_MAX_BYTES) {
      int64_t nidx[TG_MAX_BATCH];
      tg_batch_index(P, bi + nth, nidx);
      pf.a = (const char*)((const TG_TA*)bufs[TG_ABUF] + tg_off(&P->op[1], nidx)); pf.a_end = pf.a + M*K*(int64_t)sizeof(TG_TA);
      pf.b = (const char*)((const TG_TB*)bufs[TG_BBUF] + tg_off(&P->op[2], nidx)); pf.b_end = pf.b + K*N*(int64_t)sizeof(TG_TB);
    }
    tg_epi e;
    tg_epi_init(&e, P, bufs, bidx);
    if (barrier) {
      tg_barrier_gemm(P, sh, tid, nth, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, ap);
      continue;
    }
    if (shared) {
      tg_shared_gemm(P, sh, next_chunk, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, ap);
      continue;
    }
#if TG_VECTOR_PATH
    if ((m1 - m0 == 1 || n1 - n0 == 1) && K <= TG_LONG_K) {
      const int row = m1 - m0 == 1;
      tg_vector_product(row, m0, n0, row ? n1 - n0 : m1 - m0, K, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, (TG_ACC*)ws);
      continue;
    }
#endif
#if TG_B_INPLACE
    if (P->packing == TG_PACKING_NEITHER && ask == 1 && bsn == 1) {
      if (!tg_inplace_tiles(m0, m1, n0, n1, K, A, asm_, B, bsk, C, csm, csn, &e, &pf))
        tg_blis(m0, m1, n0, n1, K, KC, MC, NC, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, ap, bp, 1, &pf);
      continue;
    }
#endif
#if TG_A_INPLACE
    const int ainp = P->packing != TG_PACKING_BOTH && ask == 1;
#else
    const int ainp = 0;
#endif
    tg_blis(m0, m1, n0, n1, K, KC, MC, NC, A, asm_, ask, B, bsk, bsn, C, csm, csn, &e, ap, bp, ainp, &pf);
  }
}
#endif /* TG_BLIS_C */
