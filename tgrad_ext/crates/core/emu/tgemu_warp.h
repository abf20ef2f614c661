/* tgrad GPU emulator: CUDA warp collectives with the per-lane layouts of the PTX ISA.
 *
 * Lane l of a warp: groupID g = l / 4, threadID_in_group t = l % 4.
 * ldmatrix.sync.aligned.m8n8.x4(.trans).shared.b16: lanes 8j..8j+7 give the addresses of the
 *   8 rows (16 bytes each) of matrix j; destination register j of lane l holds matrix j's
 *   (row g, cols 2t, 2t+1), or with .trans (rows 2t, 2t+1, col g); the lower column/row in the
 *   low 16 bits.
 * mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 d, a, b, c:
 *   A (16x16) a0..a3: (g, 2t..2t+1), (g+8, 2t..), (g, 2t+8..), (g+8, 2t+8..), low half first;
 *   B (16x8, k x n) b0, b1: (k 2t..2t+1, n g), (k 2t+8..2t+9, n g);
 *   C, D (16x8) c0..c3: (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1).
 *   Products of halves are exact in float; each D element sums C and the 16 products in k
 *   order with float additions rounded to nearest even. */
#pragma once
#include "tgemu_half.h"
#include "tgemu_runtime.h"

namespace tgemu {

static void shfl_down_op(Block& b, Fiber* const* lanes, uint32_t n) {
  const uint32_t full = n == WARP ? 0xffffffffu : ((1u << n) - 1u);
  const int64_t delta = (int64_t)lanes[0]->val[2];
  const uint64_t width = lanes[0]->val[3];
  for (uint32_t l = 0; l < n; l++) {
    const Fiber* f = lanes[l];
    if ((uint32_t)f->val[1] != full) {
      error(b, "__shfl_down_sync (%s:%d): lane %u's mask 0x%08x does not name exactly the %u lanes of warp %u",
            f->site.file, f->site.line, l, (uint32_t)f->val[1], n, f->warp);
      return;
    }
    if ((int64_t)f->val[2] != delta || f->val[3] != width) {
      error(b, "__shfl_down_sync (%s:%d): lanes 0 and %u of warp %u disagree on delta or width (%lld/%llu vs %lld/%llu)",
            f->site.file, f->site.line, l, f->warp, (long long)delta, (unsigned long long)width,
            (long long)(int64_t)f->val[2], (unsigned long long)f->val[3]);
      return;
    }
  }
  if (width == 0 || width > WARP || (width & (width - 1)) != 0 || delta < 0) {
    error(b, "__shfl_down_sync (%s:%d): width %llu must be a power of two up to 32 and delta %lld non-negative",
          lanes[0]->site.file, lanes[0]->site.line, (unsigned long long)width, (long long)delta);
    return;
  }
  uint64_t got[WARP];
  for (uint32_t l = 0; l < n; l++) {
    const uint64_t seg_end = (l & ~(uint32_t)(width - 1)) + width;
    const uint64_t src = l + (uint64_t)delta;
    got[l] = (src < seg_end && src < n) ? lanes[src]->val[0] : lanes[l]->val[0];
  }
  for (uint32_t l = 0; l < n; l++) lanes[l]->val[0] = got[l];
}

template <class T>
static T shfl_down(const char* file, int line, unsigned mask, T var, int delta, int width = 32) {
  static_assert(sizeof(T) <= 8, "__shfl_down_sync moves at most 8 bytes");
  Fiber* f = self();
  uint64_t bits = 0;
  memcpy(&bits, &var, sizeof(T));
  f->val[0] = bits;
  f->val[1] = mask;
  f->val[2] = (uint64_t)(int64_t)delta;
  f->val[3] = (uint64_t)(int64_t)width;
  collective(f, shfl_down_op, "__shfl_down_sync", file, line);
  T r;
  memcpy(&r, &f->val[0], sizeof(T));
  return r;
}

static bool full_warp(Block& b, Fiber* const* lanes, uint32_t n, const char* what) {
  if (n == WARP) return true;
  error(b, "%s (%s:%d) in warp %u of %u lanes: it needs a full warp", what, lanes[0]->site.file,
        lanes[0]->site.line, lanes[0]->warp, n);
  return false;
}

template <bool TRANS>
static void ldmatrix_op(Block& b, Fiber* const* lanes, uint32_t n) {
  const char* what = TRANS ? "ldmatrix .x4.trans" : "ldmatrix .x4";
  if (!full_warp(b, lanes, n, what)) return;
  uint16_t rows[WARP][8];
  for (uint32_t l = 0; l < WARP; l++) {
    const unsigned char* p = (const unsigned char*)lanes[l]->arg[0];
    if ((uintptr_t)p % 16 != 0) {
      error(b, "%s (%s:%d): lane %u of warp %u gives row address %p, not 16-byte aligned", what,
            lanes[l]->site.file, lanes[l]->site.line, l, lanes[l]->warp, (const void*)p);
      return;
    }
    if (b.smem == nullptr || p < b.smem || p + 16 > b.smem + b.smem_bytes) {
      error(b, "%s (%s:%d): lane %u of warp %u reads 16 bytes at shared offset %lld, outside the block's %zu bytes of shared memory",
            what, lanes[l]->site.file, lanes[l]->site.line, l, lanes[l]->warp,
            b.smem ? (long long)(p - b.smem) : -1ll, b.smem_bytes);
      return;
    }
    memcpy(rows[l], p, 16);
  }
  for (uint32_t l = 0; l < WARP; l++) {
    unsigned* r = (unsigned*)lanes[l]->out[0];
    const uint32_t g = l / 4, t = l % 4;
    for (uint32_t j = 0; j < 4; j++) {
      uint32_t lo, hi;
      if (TRANS) {
        lo = rows[8 * j + 2 * t][g];
        hi = rows[8 * j + 2 * t + 1][g];
      } else {
        lo = rows[8 * j + g][2 * t];
        hi = rows[8 * j + g][2 * t + 1];
      }
      r[j] = lo | (hi << 16);
    }
  }
}

static inline void ldmatrix_x4(bool trans, unsigned* r, const void* p, const char* file, int line) {
  Fiber* f = self();
  f->arg[0] = p;
  f->out[0] = r;
  if (trans) collective(f, ldmatrix_op<true>, "tg_ldsm_x4_t (ldmatrix .x4.trans)", file, line);
  else collective(f, ldmatrix_op<false>, "tg_ldsm_x4 (ldmatrix .x4)", file, line);
}

static void mma_op(Block& b, Fiber* const* lanes, uint32_t n) {
  if (!full_warp(b, lanes, n, "mma.sync.m16n8k16")) return;
  float A[16][16], B[16][8], C[16][8];
  for (uint32_t l = 0; l < WARP; l++) {
    const uint32_t g = l / 4, t = l % 4;
    const unsigned* a = (const unsigned*)lanes[l]->arg[0];
    const unsigned* bb = (const unsigned*)lanes[l]->arg[1];
    const float* c = (const float*)lanes[l]->out[0];
    for (uint32_t r = 0; r < 4; r++) {
      const uint32_t row = g + (r & 1) * 8, col = 2 * t + (r >> 1) * 8;
      A[row][col] = h2f((uint16_t)(a[r] & 0xffffu));
      A[row][col + 1] = h2f((uint16_t)(a[r] >> 16));
    }
    for (uint32_t r = 0; r < 2; r++) {
      const uint32_t k = 2 * t + r * 8;
      B[k][g] = h2f((uint16_t)(bb[r] & 0xffffu));
      B[k + 1][g] = h2f((uint16_t)(bb[r] >> 16));
    }
    for (uint32_t i = 0; i < 4; i++) C[g + (i >> 1) * 8][2 * t + (i & 1)] = c[i];
  }
  for (uint32_t i = 0; i < 16; i++)
    for (uint32_t j = 0; j < 8; j++) {
      float acc = C[i][j];
      for (uint32_t k = 0; k < 16; k++) acc += A[i][k] * B[k][j];
      C[i][j] = acc;
    }
  for (uint32_t l = 0; l < WARP; l++) {
    const uint32_t g = l / 4, t = l % 4;
    float* d = (float*)lanes[l]->out[0];
    for (uint32_t i = 0; i < 4; i++) d[i] = C[g + (i >> 1) * 8][2 * t + (i & 1)];
  }
}

static inline void mma_m16n8k16_f32_f16(float* d, const unsigned* a, const unsigned* b, const char* file, int line) {
  Fiber* f = self();
  f->arg[0] = a;
  f->arg[1] = b;
  f->out[0] = d;
  collective(f, mma_op, "tg_mma (mma.sync.m16n8k16)", file, line);
}

} // namespace tgemu
