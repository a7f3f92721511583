// hetc CUDA kernel library for the integer (HE) transforms.  Built by
// backends/cuda_he/host.py with `nvcc -O3 -arch=sm_90 -shared`.
//
// 1. he_bat_mma / he_bat_mm: the BAT modular matmul of hetc-he-bat on int8 tensor cores (WMMA,
//    unsigned char fragments, int32 accumulators; IMMA on sm_80/sm_90).  One operand is
//    a constant pre-sliced into 16 byte planes W^(j)_i (byte i of 2^(8j) W mod q); the
//    other is u32 residue data, split into its 4 byte planes X_j while it is staged into
//    shared memory.  P_i = sum_j W^(j)_i @ X_j accumulate exactly in s32 (4 K 255^2 <
//    2^31 for K <= 8256); the epilogue forms S = sum_i 2^(8i) P_i in u64 and reduces it
//    with one Barrett step (mu = floor(2^64 / q), __umul64hi), and optionally multiplies
//    by the twist matrix T (Barrett again) -- shift-sum, Barrett and he.modmul fused.
//    Variants (the `variant` argument): 1 and 2 = raw PTX mma.sync m16n8k32, 8 warps of
//    32 x 16 outputs, at __launch_bounds__ min 1 block/SM (172 registers, no spills) or 2
//    (128 registers, ~200 bytes spilled); 0 = WMMA 16x16x16 fragments (the first version).
// 2. The batched 3-step NTT (hetc-he-ntt-to-matmul): forward y = ((A X) * T) B, inverse
//    x = Ai ((Y Bi) * Ti), X = one polynomial as a C x R matrix, B polynomials per launch
//    (blockIdx.z).  Two launches per transform.
// 3. The baseline: a direct negacyclic radix-2 Cooley-Tukey NTT on u64 words (SEAL's
//    ordering, bit-reversed output), Shoup multiplication with precomputed w' = floor(w
//    2^64 / q): the stages with half-span >= 1024 run one global-memory launch each, the
//    last 11 stages run in one launch over 2048-element chunks in shared memory.
//
// Everything is exact for primes q < 2^31 (the Barrett/Shoup corrections assume q < 2^31
// so that 3q and 2q fit their words with room).
#include <cuda_runtime.h>
#include <mma.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <vector>
#include <algorithm>

using namespace nvcuda;

static char g_err[512];
extern "C" const char* hetc_he_cuda_error(void) { return g_err; }

#define CK(call)                                                                        \
  do {                                                                                  \
    cudaError_t e_ = (call);                                                            \
    if (e_ != cudaSuccess) {                                                            \
      snprintf(g_err, sizeof g_err, "%s failed: %s (%s:%d)", #call, cudaGetErrorString(e_), \
               __FILE__, __LINE__);                                                     \
      return 1;                                                                         \
    }                                                                                   \
  } while (0)

__device__ __forceinline__ uint64_t barrett64(uint64_t s, uint64_t q, uint64_t mu) {
  // s < 2^64, mu = floor(2^64 / q): the quotient estimate is short by at most 2
  uint64_t r = s - __umul64hi(s, mu) * q;
  if (r >= q) r -= q;
  if (r >= q) r -= q;
  return r;
}

// ---------------------------------------------------------------------------------------
// BAT modular matmul on int8 tensor cores
// ---------------------------------------------------------------------------------------
#define BM 64
#define BN 64
#define BK 32
#define NWARPS 4  // 2 x 2 warps, each a 32 x 32 output tile

// DATA_LEFT: out[b] = (D[b] @ W) mod q, D[b]: M x K u32, W: K x N (16 planes [16][K][N])
// else:      out[b] = (W @ D[b]) mod q, W: M x K (16 planes [16][M][K]), D[b]: K x N u32
// twist (nullable): out *= twist[m][n] mod q.  Requires M, N % 64 == 0, K % 32 == 0.
template <bool DATA_LEFT>
__global__ void __launch_bounds__(NWARPS * 32)
he_bat_mm(const uint32_t* __restrict__ D, const uint8_t* __restrict__ W, const uint32_t* __restrict__ twist,
          uint32_t* __restrict__ out, int M, int N, int K, uint64_t q, uint64_t mu) {
  // data planes: 4 x (BM x BK) when left, 4 x (BK x BN) when right (both 2048 bytes);
  // constant planes: 16 x 2048 bytes.  Reused as the epilogue's staging area.
  __shared__ __align__(128) uint8_t sD[4][BM * BK];
  __shared__ __align__(128) uint8_t sW[16][BM * BK];
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int64_t bz = blockIdx.z;
  const uint32_t* Db = D + bz * (int64_t)(DATA_LEFT ? M * K : K * N);
  uint32_t* ob = out + bz * (int64_t)M * N;
  const int wm = (warp >> 1) * 32, wn = (warp & 1) * 32;

  wmma::fragment<wmma::accumulator, 16, 16, 16, int> acc[2][2][4];
#pragma unroll
  for (int a = 0; a < 2; a++)
#pragma unroll
    for (int b = 0; b < 2; b++)
#pragma unroll
      for (int i = 0; i < 4; i++) wmma::fill_fragment(acc[a][b][i], 0);

  for (int k0 = 0; k0 < K; k0 += BK) {
    // stage the data tile (2048 u32) split into byte planes
    for (int e = tid; e < BM * BK; e += NWARPS * 32) {
      uint32_t v;
      if (DATA_LEFT) {  // BM x BK tile, row-major, ld BK
        const int r = e / BK, c = e % BK;
        v = Db[(int64_t)(m0 + r) * K + k0 + c];
      } else {  // BK x BN tile, row-major, ld BN
        const int r = e / BN, c = e % BN;
        v = Db[(int64_t)(k0 + r) * N + n0 + c];
      }
      sD[0][e] = (uint8_t)v;
      sD[1][e] = (uint8_t)(v >> 8);
      sD[2][e] = (uint8_t)(v >> 16);
      sD[3][e] = (uint8_t)(v >> 24);
    }
    // stage the 16 constant planes (16 bytes per load)
    for (int e = tid; e < 16 * (BM * BK / 16); e += NWARPS * 32) {
      const int p = e / (BM * BK / 16), o = (e % (BM * BK / 16)) * 16;
      const uint8_t* src;
      if (DATA_LEFT) {  // BK x BN of a K x N plane
        const int r = o / BN, c = o % BN;
        src = W + (int64_t)p * K * N + (int64_t)(k0 + r) * N + n0 + c;
      } else {  // BM x BK of an M x K plane
        const int r = o / BK, c = o % BK;
        src = W + (int64_t)p * M * K + (int64_t)(m0 + r) * K + k0 + c;
      }
      *reinterpret_cast<uint4*>(&sW[p][o]) = __ldg(reinterpret_cast<const uint4*>(src));
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk += 16) {
#pragma unroll
      for (int j = 0; j < 4; j++) {
        if (DATA_LEFT) {
          wmma::fragment<wmma::matrix_a, 16, 16, 16, unsigned char, wmma::row_major> fa[2];
#pragma unroll
          for (int a = 0; a < 2; a++) wmma::load_matrix_sync(fa[a], &sD[j][(wm + 16 * a) * BK + kk], BK);
#pragma unroll
          for (int i = 0; i < 4; i++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, unsigned char, wmma::row_major> fb[2];
#pragma unroll
            for (int b = 0; b < 2; b++) wmma::load_matrix_sync(fb[b], &sW[i * 4 + j][kk * BN + wn + 16 * b], BN);
#pragma unroll
            for (int a = 0; a < 2; a++)
#pragma unroll
              for (int b = 0; b < 2; b++) wmma::mma_sync(acc[a][b][i], fa[a], fb[b], acc[a][b][i]);
          }
        } else {
          wmma::fragment<wmma::matrix_b, 16, 16, 16, unsigned char, wmma::row_major> fb[2];
#pragma unroll
          for (int b = 0; b < 2; b++) wmma::load_matrix_sync(fb[b], &sD[j][kk * BN + wn + 16 * b], BN);
#pragma unroll
          for (int i = 0; i < 4; i++) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, unsigned char, wmma::row_major> fa[2];
#pragma unroll
            for (int a = 0; a < 2; a++) wmma::load_matrix_sync(fa[a], &sW[i * 4 + j][(wm + 16 * a) * BK + kk], BK);
#pragma unroll
            for (int a = 0; a < 2; a++)
#pragma unroll
              for (int b = 0; b < 2; b++) wmma::mma_sync(acc[a][b][i], fa[a], fb[b], acc[a][b][i]);
          }
        }
      }
    }
    __syncthreads();
  }

  // epilogue: per warp, per 16x16 subtile, the 4 byte-parts -> shift-sum -> Barrett (-> twist)
  int* stage = reinterpret_cast<int*>(&sW[warp * 4][0]);  // 4 planes = 8 KB per warp, 4 KB used
#pragma unroll
  for (int a = 0; a < 2; a++)
#pragma unroll
    for (int b = 0; b < 2; b++) {
#pragma unroll
      for (int i = 0; i < 4; i++) wmma::store_matrix_sync(stage + i * 256, acc[a][b][i], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const uint64_t s = (uint64_t)(uint32_t)stage[e] + ((uint64_t)(uint32_t)stage[256 + e] << 8) +
                           ((uint64_t)(uint32_t)stage[512 + e] << 16) + ((uint64_t)(uint32_t)stage[768 + e] << 24);
        uint64_t r = barrett64(s, q, mu);
        const int gm = m0 + wm + 16 * a + e / 16, gn = n0 + wn + 16 * b + e % 16;
        if (twist) r = barrett64(r * (uint64_t)twist[(int64_t)gm * N + gn], q, mu);
        ob[(int64_t)gm * N + gn] = (uint32_t)r;
      }
      __syncwarp();
    }
}


// ---------------------------------------------------------------------------------------
// The same BAT matmul on raw PTX mma.sync.m16n8k32.u8.u8.s32 (variant 1, the default): a
// full k = 32 per instruction (WMMA's u8 shape is k = 16), both operands staged
// k-contiguous in shared memory with rows padded to 80 bytes (conflict-free fragment
// loads), the epilogue straight from the accumulator registers.  The constant on the right
// (DATA_LEFT) comes pre-transposed: 16 planes [16][N][K].
// ---------------------------------------------------------------------------------------
#define MK 64        // BK of this variant
#define LDS (MK + 16)  // padded row, bytes
#define MMA_SMEM (20 * 64 * LDS)
#define MMA_THREADS 256
#define NF 2  // n8 fragments per warp

__device__ __forceinline__ void mma_u8(int* c, const uint32_t* a, const uint32_t* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.u8.u8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

template <bool DATA_LEFT, int MINB>
__global__ void __launch_bounds__(MMA_THREADS, MINB)
he_bat_mma(const uint32_t* __restrict__ D, const uint8_t* __restrict__ W, const uint32_t* __restrict__ twist,
           uint32_t* __restrict__ out, int M, int N, int K, uint64_t q, uint64_t mu) {
  extern __shared__ __align__(16) uint8_t smem[];
  uint8_t* sData = smem;                 // 4 planes [64][LDS]
  uint8_t* sConst = smem + 4 * 64 * LDS;  // 16 planes [64][LDS]
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  const int m0 = blockIdx.y * 64, n0 = blockIdx.x * 64;
  const int64_t bz = blockIdx.z;
  const uint32_t* Db = D + bz * (int64_t)(DATA_LEFT ? M * K : K * N);
  uint32_t* ob = out + bz * (int64_t)M * N;
  const int wm = (warp >> 2) * 32, wn = (warp & 3) * 16;  // 8 warps, 32 x 16 each
  const int crows = DATA_LEFT ? N : M, cbase = DATA_LEFT ? n0 : m0;

  int acc[4][2][NF][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int a = 0; a < 2; a++)
#pragma unroll
      for (int b = 0; b < NF; b++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[i][a][b][e] = 0;

  for (int k0 = 0; k0 < K; k0 += MK) {
    for (int e = tid; e < 64 * MK; e += MMA_THREADS) {
      uint32_t v;
      int row, col;  // in the k-contiguous staging: [row][k]
      if (DATA_LEFT) {
        row = e / MK; col = e % MK;
        v = Db[(int64_t)(m0 + row) * K + k0 + col];
      } else {
        col = e / 64; row = e % 64;  // coalesced along n
        v = Db[(int64_t)(k0 + col) * N + n0 + row];
      }
#pragma unroll
      for (int j = 0; j < 4; j++) sData[j * 64 * LDS + row * LDS + col] = (uint8_t)(v >> (8 * j));
    }
    for (int e = tid; e < 16 * 64 * (MK / 16); e += MMA_THREADS) {
      const int p = e / (64 * (MK / 16)), rem = e % (64 * (MK / 16)), row = rem / (MK / 16), c16 = (rem % (MK / 16)) * 16;
      const uint8_t* src = W + (int64_t)p * crows * K + (int64_t)(cbase + row) * K + k0 + c16;
      *reinterpret_cast<uint4*>(&sConst[p * 64 * LDS + row * LDS + c16]) = __ldg(reinterpret_cast<const uint4*>(src));
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < MK; kk += 32) {
#pragma unroll
      for (int j = 0; j < 4; j++) {
        const uint8_t* sa_d = sData + j * 64 * LDS;
        if (DATA_LEFT) {
          uint32_t fa[2][4];
#pragma unroll
          for (int a = 0; a < 2; a++) {
            const uint8_t* base = sa_d + (wm + 16 * a + g) * LDS + kk + 4 * t;
            fa[a][0] = *reinterpret_cast<const uint32_t*>(base);
            fa[a][1] = *reinterpret_cast<const uint32_t*>(base + 8 * LDS);
            fa[a][2] = *reinterpret_cast<const uint32_t*>(base + 16);
            fa[a][3] = *reinterpret_cast<const uint32_t*>(base + 8 * LDS + 16);
          }
#pragma unroll
          for (int i = 0; i < 4; i++) {
            const uint8_t* sb = sConst + (i * 4 + j) * 64 * LDS;
#pragma unroll
            for (int b = 0; b < NF; b++) {
              const uint8_t* base = sb + (wn + 8 * b + g) * LDS + kk + 4 * t;
              uint32_t fb[2] = {*reinterpret_cast<const uint32_t*>(base), *reinterpret_cast<const uint32_t*>(base + 16)};
#pragma unroll
              for (int a = 0; a < 2; a++) mma_u8(acc[i][a][b], fa[a], fb);
            }
          }
        } else {
          uint32_t fb[NF][2];
#pragma unroll
          for (int b = 0; b < NF; b++) {
            const uint8_t* base = sa_d + (wn + 8 * b + g) * LDS + kk + 4 * t;
            fb[b][0] = *reinterpret_cast<const uint32_t*>(base);
            fb[b][1] = *reinterpret_cast<const uint32_t*>(base + 16);
          }
#pragma unroll
          for (int i = 0; i < 4; i++) {
            const uint8_t* sa = sConst + (i * 4 + j) * 64 * LDS;
#pragma unroll
            for (int a = 0; a < 2; a++) {
              const uint8_t* base = sa + (wm + 16 * a + g) * LDS + kk + 4 * t;
              uint32_t fa[4] = {*reinterpret_cast<const uint32_t*>(base),
                                *reinterpret_cast<const uint32_t*>(base + 8 * LDS),
                                *reinterpret_cast<const uint32_t*>(base + 16),
                                *reinterpret_cast<const uint32_t*>(base + 8 * LDS + 16)};
#pragma unroll
              for (int b = 0; b < NF; b++) mma_u8(acc[i][a][b], fa, fb[b]);
            }
          }
        }
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int a = 0; a < 2; a++)
#pragma unroll
    for (int b = 0; b < NF; b++)
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int gm = m0 + wm + 16 * a + g + 8 * h, gn = n0 + wn + 8 * b + 2 * t;
        uint32_t res[2];
#pragma unroll
        for (int e = 0; e < 2; e++) {
          const int x = 2 * h + e;
          const uint64_t s = (uint64_t)(uint32_t)acc[0][a][b][x] + ((uint64_t)(uint32_t)acc[1][a][b][x] << 8) +
                             ((uint64_t)(uint32_t)acc[2][a][b][x] << 16) + ((uint64_t)(uint32_t)acc[3][a][b][x] << 24);
          uint64_t r = barrett64(s, q, mu);
          if (twist) r = barrett64(r * (uint64_t)twist[(int64_t)gm * N + gn + e], q, mu);
          res[e] = (uint32_t)r;
        }
        *reinterpret_cast<uint2*>(&ob[(int64_t)gm * N + gn]) = make_uint2(res[0], res[1]);
      }
}

// ---------------------------------------------------------------------------------------
// The multi-pass NTT on int8 tensor cores (variant 3): the 3-step form applied recursively,
// N = R_0 R_1 ... R_{L-1} with radices R of 16 or 32, one launch per pass, in place.
// Pass p (block size S = N / (R_0..R_{p-1}), stride s = S / R) splits every block into
// groups of R elements at stride s (group g: block b = g / s, offset m = g % s, element i
// at b S + m + i s) and replaces each group v by  tw(m, j) * sum_i F_p[j][i] v[i]  at the
// same positions: a decimation-in-frequency step whose radix-R DFT rows are stored in
// bit-reversed order, so that after the last pass the output is in SEAL's bit-reversed
// order.  The sum is a BAT byte matmul: v's 4 byte planes (K = 4R bytes) times the
// constant Wcat [4R columns = 4 output planes x R][4R], one m16n8k32 IMMA tile row per
// 16 groups.  The epilogue never leaves 32 bits: with the plane sums P_0..P_3 (< 2^23),
// lo = P_0 + 2^8 P_1 and hi = P_2 + 2^8 P_3 fit u32, and
//   out = lo tw + hi (2^16 tw)  mod q
// is two Shoup products against a table entry {tw, tw', 2^16 tw mod q, its tw'} (tw = 1
// when the pass has no twiddle), which does the shift-sum, the reduction and the twiddle
// at once.  The tables (mp_tables() in host.py) are per pass and indexed
//   mode 1: tab[m]           (the negacyclic twist psi^(+-m), pass 0)
//   mode 2: tab[slot s + m]  (the DIF twiddle omega_S^(+-m brev(slot)), contiguous in m)
// "pro" tables (u32 pairs) multiply the inputs before the matmul, "epi" tables (u32
// quadruples) the outputs.  Work per element: sum_p 16 R byte MACs (1024 for N = 2^16)
// against 16 (C + R) = 8192 for the two-launch 3-step form above; traffic 8 bytes per
// element per pass.
#define MP_THREADS 128
#define MP_TILE 2048  // elements per block (8 KB of u32)
#ifndef MP_MINB
#define MP_MINB 1  // min blocks per SM of the fused kernel (register cap); tuned on an H100
#endif

__device__ __forceinline__ uint32_t shoup_lazy(uint32_t x, uint32_t w, uint32_t wp, uint32_t q) {
  return x * w - __umulhi(x, wp) * q;  // x w mod q in [0, 2q), any x < 2^32, q < 2^31
}

__device__ __forceinline__ uint32_t pack_plane(const uint32_t* v, int plane) {
  // byte `plane` of v[0..3] as one word (v[0]'s in the low byte)
  const uint32_t sel = 0x0040 + plane * 0x0011;  // prmt selectors: a.byte(plane), b.byte(plane)
  return __byte_perm(__byte_perm(v[0], v[1], sel), __byte_perm(v[2], v[3], sel), 0x5410);
}

template <int R>
__global__ void __launch_bounds__(MP_THREADS)
he_ntt_pass(const uint32_t* __restrict__ x, uint32_t* __restrict__ y, int logn, int logs,
            const uint8_t* __restrict__ wcat, const uint2* __restrict__ pro_tab, int pro_mode,
            const uint4* __restrict__ epi_tab, int epi_mode, uint4 one, uint32_t q) {
  // one: the epilogue's entry when the pass has no twiddle ({1, 2^16 mod q} and their Shoup words)
  constexpr int G = MP_TILE / R;       // groups per tile
  constexpr int K = 4 * R;             // bytes per group row (4 planes x R) = output columns
  constexpr int LD = K + 16;           // padded row (no bank conflicts on fragment loads)
  constexpr int MT = G / 4 / 16;       // m16 tiles per warp (4 warps)
  constexpr int NT = K / 8;            // n8 tiles
  constexpr int KS = K / 32;           // k32 steps
  constexpr int LOGR = R == 16 ? 4 : 5;
  constexpr int Q4 = R / 4;            // quads of slots per group
  constexpr int GP = G + 4;            // staging pitch per slot when s >= G
  static_assert(G * LD >= GP * R * 4, "the staging area must fit in sA");
  __shared__ __align__(16) uint8_t sA[G * LD];   // byte planes of the tile, then the staged output
  __shared__ __align__(16) uint8_t sB[K * LD];   // Wcat, column-major (column n: its K bytes)
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int gid = lane >> 2, tig = lane & 3;
  const int n = 1 << logn, s = 1 << logs, logS = logs + LOGR;
  const bool wide = s >= G;  // the tile is R runs of G consecutive groups (else G / s whole blocks)
  const int g0 = blockIdx.x * G;  // first group of the tile
  const int base = wide ? ((g0 >> logs) << logS) + (g0 & (s - 1)) : (g0 >> logs) << logS;
  const uint32_t* xp = x + (int64_t)blockIdx.y * n + base;
  uint32_t* yp = y + (int64_t)blockIdx.y * n + base;
  uint32_t* stage = reinterpret_cast<uint32_t*>(sA);

  for (int e = tid * 16; e < K * K; e += MP_THREADS * 16) {
    const int col = e / K, k = e % K;
    *reinterpret_cast<uint4*>(&sB[col * LD + k]) = __ldg(reinterpret_cast<const uint4*>(wcat + e));
  }
  // load: each thread takes quads (group gl, slots 4 i4 .. 4 i4 + 3)
#pragma unroll
  for (int it = 0; it < MP_TILE / 4 / MP_THREADS; it++) {
    const int t = it * MP_THREADS + tid;
    const int gl = s == 1 ? t / Q4 : t % G, i4 = s == 1 ? t % Q4 : t / G;
    const int at = wide ? gl : ((gl >> logs) << logS) + (gl & (s - 1));  // tile offset of slot 0
    const int m = (g0 + gl) & (s - 1);
    uint32_t v[4];
    if (s == 1) {
      const uint4 w = *reinterpret_cast<const uint4*>(xp + at + 4 * i4);
      v[0] = w.x, v[1] = w.y, v[2] = w.z, v[3] = w.w;
    } else {
#pragma unroll
      for (int k = 0; k < 4; k++) v[k] = xp[at + (4 * i4 + k) * s];
    }
    if (pro_mode) {
#pragma unroll
      for (int k = 0; k < 4; k++) {
        const uint2 w = __ldg(pro_tab + (pro_mode == 1 ? m : (4 * i4 + k) * s + m));
        const uint32_t r = shoup_lazy(v[k], w.x, w.y, q);
        v[k] = r >= q ? r - q : r;
      }
    }
#pragma unroll
    for (int jp = 0; jp < 4; jp++) *reinterpret_cast<uint32_t*>(sA + gl * LD + jp * R + 4 * i4) = pack_plane(v, jp);
  }
  __syncthreads();

  int acc[MT][NT][4];
#pragma unroll
  for (int a = 0; a < MT; a++)
#pragma unroll
    for (int b = 0; b < NT; b++)
#pragma unroll
      for (int c = 0; c < 4; c++) acc[a][b][c] = 0;
#pragma unroll
  for (int ks = 0; ks < KS; ks++) {
    uint32_t fa[MT][4];
#pragma unroll
    for (int a = 0; a < MT; a++) {
      const uint8_t* r0 = sA + (warp * MT * 16 + a * 16 + gid) * LD + ks * 32 + tig * 4;
      fa[a][0] = *reinterpret_cast<const uint32_t*>(r0);
      fa[a][1] = *reinterpret_cast<const uint32_t*>(r0 + 8 * LD);
      fa[a][2] = *reinterpret_cast<const uint32_t*>(r0 + 16);
      fa[a][3] = *reinterpret_cast<const uint32_t*>(r0 + 8 * LD + 16);
    }
#pragma unroll
    for (int b = 0; b < NT; b++) {
      const uint8_t* c0 = sB + (b * 8 + gid) * LD + ks * 32 + tig * 4;
      uint32_t fb[2] = {*reinterpret_cast<const uint32_t*>(c0), *reinterpret_cast<const uint32_t*>(c0 + 16)};
#pragma unroll
      for (int a = 0; a < MT; a++) mma_u8(acc[a][b], fa[a], fb);
    }
  }
  __syncthreads();  // every warp is done reading sA: reuse it to stage the output
#pragma unroll
  for (int a = 0; a < MT; a++)
#pragma unroll
    for (int h = 0; h < 2; h++)
#pragma unroll
      for (int jt = 0; jt < R / 8; jt++)
#pragma unroll
        for (int c = 0; c < 2; c++) {
          const uint32_t p0 = acc[a][jt][h * 2 + c], p1 = acc[a][R / 8 + jt][h * 2 + c];
          const uint32_t p2 = acc[a][2 * (R / 8) + jt][h * 2 + c], p3 = acc[a][3 * (R / 8) + jt][h * 2 + c];
          const uint32_t lo = p0 + (p1 << 8), hi = p2 + (p3 << 8);
          const int gl = warp * MT * 16 + a * 16 + h * 8 + gid, j = jt * 8 + tig * 2 + c;
          const int m = (g0 + gl) & (s - 1);
          const uint4 w = epi_mode ? __ldg(epi_tab + (epi_mode == 1 ? m : j * s + m)) : one;
          uint32_t r1 = shoup_lazy(lo, w.x, w.y, q), r2 = shoup_lazy(hi, w.z, w.w, q);
          r1 = r1 >= q ? r1 - q : r1;
          r2 = r2 >= q ? r2 - q : r2;
          uint32_t v = r1 + r2;  // < 2q < 2^32
          v = v >= q ? v - q : v;
          stage[wide ? j * GP + gl : ((gl >> logs) << logS) + j * s + (gl & (s - 1))] = v;
        }
  __syncthreads();
#pragma unroll
  for (int it = 0; it < MP_TILE / 4 / MP_THREADS; it++) {
    const int t = it * MP_THREADS + tid;
    const int gl = s == 1 ? t / Q4 : t % G, i4 = s == 1 ? t % Q4 : t / G;
    if (s == 1) {
      *reinterpret_cast<uint4*>(yp + gl * R + 4 * i4) = *reinterpret_cast<const uint4*>(stage + gl * R + 4 * i4);
    } else {
      const int at = wide ? gl : ((gl >> logs) << logS) + (gl & (s - 1));
#pragma unroll
      for (int k = 0; k < 4; k++) {
        const int i = 4 * i4 + k;
        yp[at + i * s] = stage[wide ? i * GP + gl : at + i * s];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// The u64 baseline: radix-2 negacyclic NTT (Longa-Naehrig / SEAL ordering)
// ---------------------------------------------------------------------------------------
__device__ __forceinline__ uint64_t mul_shoup(uint64_t x, uint64_t w, uint64_t wp, uint64_t q) {
  const uint64_t r = x * w - __umul64hi(x, wp) * q;  // in [0, 2q)
  return r >= q ? r - q : r;
}

__device__ __forceinline__ void ct_butterfly(uint64_t& u, uint64_t& v, uint64_t w, uint64_t wp, uint64_t q) {
  const uint64_t t = mul_shoup(v, w, wp, q);
  const uint64_t s = u + t;
  const uint64_t d = u + q - t;
  u = s >= q ? s - q : s;
  v = d >= q ? d - q : d;
}

// one stage over global memory: half-span t, m = n / (2 t) groups; one thread per butterfly
__global__ void ntt_u64_stage(uint64_t* __restrict__ a, const uint64_t* __restrict__ w, const uint64_t* __restrict__ wp,
                              int logn, int logt, int64_t total, uint64_t q) {
  const int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= total) return;
  const int64_t half = (int64_t)1 << (logn - 1);
  const int64_t poly = g >> (logn - 1), k = g & (half - 1);
  const int64_t t = (int64_t)1 << logt;
  const int64_t i = k >> logt, j = (i << (logt + 1)) + (k & (t - 1));
  const int64_t m = (int64_t)1 << (logn - 1 - logt);
  uint64_t* p = a + (poly << logn);
  uint64_t u = p[j], v = p[j + t];
  ct_butterfly(u, v, w[m + i], wp[m + i], q);
  p[j] = u;
  p[j + t] = v;
}

#define CHUNK 2048  // u64 elements per shared-memory chunk (16 KB), 1024 threads
// the stages with half-span t < CHUNK (2t <= CHUNK): each chunk holds whole groups
__global__ void __launch_bounds__(CHUNK / 2)
ntt_u64_tail(uint64_t* __restrict__ a, const uint64_t* __restrict__ w, const uint64_t* __restrict__ wp,
             int logn, int logt_start, uint64_t q) {
  __shared__ uint64_t s[CHUNK];
  const int64_t chunks_per_poly = ((int64_t)1 << logn) / CHUNK;
  const int64_t base = (int64_t)blockIdx.x * CHUNK;  // polynomials are contiguous
  const int64_t chunk_in_poly = blockIdx.x % chunks_per_poly;
  const int k = threadIdx.x;
  s[k] = a[base + k];
  s[k + CHUNK / 2] = a[base + k + CHUNK / 2];
  __syncthreads();
  for (int logt = logt_start; logt >= 0; logt--) {
    const int t = 1 << logt;
    const int il = k >> logt, j = (il << (logt + 1)) + (k & (t - 1));
    const int64_t m = (int64_t)1 << (logn - 1 - logt);
    const int64_t i = chunk_in_poly * (CHUNK >> (logt + 1)) + il;  // global group index
    uint64_t u = s[j], v = s[j + t];
    ct_butterfly(u, v, w[m + i], wp[m + i], q);
    s[j] = u;
    s[j + t] = v;
    __syncthreads();
  }
  a[base + k] = s[k];
  a[base + k + CHUNK / 2] = s[k + CHUNK / 2];
}

__global__ void widen(const uint32_t* __restrict__ x, uint64_t* __restrict__ y, int64_t n) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i];
}
__global__ void narrow(const uint64_t* __restrict__ x, uint32_t* __restrict__ y, int64_t n) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = (uint32_t)x[i];
}

// ---------------------------------------------------------------------------------------
// Host side
// ---------------------------------------------------------------------------------------
static int g_variant = 2;  // 0: WMMA m16n16k16; 1, 2: mma.sync m16n8k32 at 1 or 2 blocks per SM (2 caps registers at 128)

static int launch_bat(bool data_left, const uint32_t* d, const uint8_t* w, const uint32_t* twist, uint32_t* out,
                      int m, int n, int k, int batch, uint64_t q) {
  const uint64_t mu = (uint64_t)(((unsigned __int128)1 << 64) / q);
  dim3 grid(n / BN, m / BM, batch), block(NWARPS * 32);
  if (g_variant == 1 || g_variant == 2) {
    if (k % MK) {
      snprintf(g_err, sizeof g_err, "the mma variants need K %% %d == 0, got %d", MK, k);
      return 1;
    }
    static bool attr_set = false;
    if (!attr_set) {
      CK(cudaFuncSetAttribute(he_bat_mma<true, 1>, cudaFuncAttributeMaxDynamicSharedMemorySize, MMA_SMEM));
      CK(cudaFuncSetAttribute(he_bat_mma<false, 1>, cudaFuncAttributeMaxDynamicSharedMemorySize, MMA_SMEM));
      CK(cudaFuncSetAttribute(he_bat_mma<true, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, MMA_SMEM));
      CK(cudaFuncSetAttribute(he_bat_mma<false, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, MMA_SMEM));
      attr_set = true;
    }
    if (g_variant == 1) {
      if (data_left)
        he_bat_mma<true, 1><<<grid, MMA_THREADS, MMA_SMEM>>>(d, w, twist, out, m, n, k, q, mu);
      else
        he_bat_mma<false, 1><<<grid, MMA_THREADS, MMA_SMEM>>>(d, w, twist, out, m, n, k, q, mu);
    } else {
      if (data_left)
        he_bat_mma<true, 2><<<grid, MMA_THREADS, MMA_SMEM>>>(d, w, twist, out, m, n, k, q, mu);
      else
        he_bat_mma<false, 2><<<grid, MMA_THREADS, MMA_SMEM>>>(d, w, twist, out, m, n, k, q, mu);
    }
    CK(cudaGetLastError());
    return 0;
  }
  if (data_left)
    he_bat_mm<true><<<grid, block>>>(d, w, twist, out, m, n, k, q, mu);
  else
    he_bat_mm<false><<<grid, block>>>(d, w, twist, out, m, n, k, q, mu);
  CK(cudaGetLastError());
  return 0;
}

// The 3-step transform on device buffers: forward (inverse = 0): tmp = (A @ X) * T, y = tmp @ B
// with w1 = planes of A [16][C][C], w2 = planes of B [16][R][R]; inverse: tmp = (Y @ Bi) * Ti,
// x = Ai @ tmp with w1 = planes of Bi [16][R][R], w2 = planes of Ai [16][C][C].
static int ntt_tc_device(int inverse, const uint32_t* x, uint32_t* tmp, uint32_t* y, int batch, int c, int r,
                         uint64_t q, const uint8_t* w1, const uint32_t* twist, const uint8_t* w2) {
  if (!inverse) {
    if (launch_bat(false, x, w1, twist, tmp, c, r, c, batch, q)) return 1;
    return launch_bat(true, tmp, w2, nullptr, y, c, r, r, batch, q);
  }
  if (launch_bat(true, x, w1, twist, tmp, c, r, r, batch, q)) return 1;
  return launch_bat(false, tmp, w2, nullptr, y, c, r, c, batch, q);
}

static int ntt_u64_device(uint64_t* a, const uint64_t* w, const uint64_t* wp, int logn, int batch, uint64_t q) {
  const int64_t total = (int64_t)batch << (logn - 1);
  int logt = logn - 1;
  for (; logt >= 0 && ((int64_t)2 << logt) > CHUNK; logt--) {
    ntt_u64_stage<<<(unsigned)((total + 255) / 256), 256>>>(a, w, wp, logn, logt, total, q);
    CK(cudaGetLastError());
  }
  if (logt >= 0) {
    ntt_u64_tail<<<(unsigned)(((int64_t)batch << logn) / CHUNK), CHUNK / 2>>>(a, w, wp, logn, logt, q);
    CK(cudaGetLastError());
  }
  return 0;
}

// Two consecutive radix-16 forward passes in one launch (pass p at stride s1 = 16 s2, then
// pass p + 1 at stride s2): the tile is closed under both, so the intermediate never leaves
// shared memory (half the DRAM traffic of two launches).  Tile = 8 "columns" c x 16 x 16:
// element (c, i, i') at base(c) + i s1 + i' s2, with base(c) = b S1 + m0 + c (s2 >= 8:
// 8 consecutive offsets of one block) or (b0 + c) S1 (s2 == 1: 8 whole blocks).  Pass p's
// groups are (c, i') with slots i; pass p + 1's are (c, j) with slots i' (j = pass p's
// output slot, now a block of pass p + 1).  Table modes (mp_tables / fuse_pairs make sure):
// pro 0 or 1; epi1 3 (wide) or 2 (s2 == 1) or 0; epi2 2 (wide) or 0.
template <int CW>
__global__ void __launch_bounds__(CW * 16, MP_MINB)
he_ntt_pair16(const uint32_t* __restrict__ x, uint32_t* __restrict__ y, int logn, int logs2,
              const uint8_t* __restrict__ wcat1, const uint8_t* __restrict__ wcat2,
              const uint2* __restrict__ pro_tab, int pro_mode, const uint4* __restrict__ epi1, int epi1_mode,
              const uint2* __restrict__ epi1_b, const uint4* __restrict__ epi2, int epi2_mode, uint4 one, uint32_t q) {
  // epi1_mode 3 (the wide tiles): pass p's twiddle omega_S^(m brev(j)) with m = m' + s2 i'
  // factors into epi1[j s2 + m'] (16 x 8 entries per tile, L1-friendly) times
  // epi1_b[16 j + i'] = omega_256^(i' brev(j)), instead of one gather per element from an
  // N-entry table (4x the tile's own bytes in scattered L2 sectors).
  // CW: columns per tile (consecutive offsets of a block when s2 >= CW: CW * 4 bytes runs)
  constexpr int G = CW * 16, NTH = G, K = 64, LD = K + 16, MT = 2, NT = 8, KS = 2;
  constexpr int LCW = CW == 16 ? 4 : 3, TILE = CW * 256;
  extern __shared__ __align__(16) uint8_t smem[];
  uint8_t* sA = smem;
  uint8_t* sA2 = sA + G * LD;
  uint8_t* sB1 = sA2 + G * LD;
  uint8_t* sB2 = sB1 + K * LD;
  // the tile's slices of the twiddle tables, read once (the per-element reads from global
  // memory were 3/4 of the kernel's L1 traffic): pass 0's twist per group, pass p's
  // twiddles ([j][c] wide, [j][i'] otherwise), the wide pair's factor [j][i'], pass p + 1's [j][c]
  // table slices at padded strides: the 4 j's a warp reads at once land on different banks
  constexpr int EJ = CW + 1;                                // sEpi1 / sEpi2: [j * EJ + c]
  uint4* sEpi1 = reinterpret_cast<uint4*>(sB2 + K * LD);  // 288 >= 256 (s2 == 1: [16 j + i']), 16 * EJ
  uint4* sEpi2 = sEpi1 + 288;                              // 16 * EJ <= G + 16
  uint2* sPro = reinterpret_cast<uint2*>(sEpi2 + G + 16);   // G
  uint2* sFac = sPro + G;                                   // [18 j + i'], 288
  uint32_t* sAw = reinterpret_cast<uint32_t*>(sA);
  // the wide tile's output staging (c, i' = j, i = r2): the epilogue's 8 i x 4 i' and the
  // store's 8 c x 4 i' both hit 32 distinct banks (the c & 3 fill the 4-word gaps of i')
  auto wide_at = [](int c, int j, int r2) { return 4 * j + (c & 3) + 65 * r2 + 1040 * (c >> 2); };
  // sA as words, rows of LD / 4 = 20 (16 used); the word index is XORed within its aligned
  // 4-word group by f(row) = (row/8 ^ row/16) & 3, constant over a fragment's 8 rows (which
  // keep the conflict-free pitch-20 pattern) and different for rows 8 apart, so that the
  // packing stores (32 consecutive rows, or 8 columns x 4 rows) spread over the banks.
  auto swz = [](int row, int w) { return row * (LD / 4) + (w ^ (((row >> 3) ^ (row >> 4)) & 3)); };
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  const int gid = lane >> 2, tig = lane & 3;
  const int n = 1 << logn, s2 = 1 << logs2, s1 = s2 << 4, big = s1 << 4;
  const bool wide = s2 >= CW;
  int base, cstride;
  if (wide) {
    const int per_b = s2 / CW;
    base = (blockIdx.x / per_b) * big + (blockIdx.x % per_b) * CW;
    cstride = 1;
  } else {
    base = blockIdx.x * CW * big;
    cstride = big;
  }
  const int mc = wide ? (base & (s2 - 1)) : 0;  // m' of column 0 (pass p + 1's offset)
  const uint32_t* xp = x + (int64_t)blockIdx.y * n + base;
  uint32_t* yp = y + (int64_t)blockIdx.y * n + base;
  for (int e = tid * 16; e < K * K; e += NTH * 16) {
    const int col = e / K, k = e % K;
    *reinterpret_cast<uint4*>(&sB1[col * LD + k]) = __ldg(reinterpret_cast<const uint4*>(wcat1 + e));
    *reinterpret_cast<uint4*>(&sB2[col * LD + k]) = __ldg(reinterpret_cast<const uint4*>(wcat2 + e));
  }
  {
    const int c = tid >> 4, i2 = tid & 15;  // group row tid of stage 0
    if (pro_mode) sPro[tid] = __ldg(pro_tab + mc + c * wide + i2 * s2);
    if (epi2_mode) sEpi2[(tid >> LCW) * EJ + (tid & (CW - 1))] = __ldg(epi2 + (tid >> LCW) * s2 + mc + (tid & (CW - 1)));
#pragma unroll
    for (int e = tid; e < 256; e += NTH) {
      if (epi1_mode == 3) {
        if (e < G) sEpi1[(e >> LCW) * EJ + (e & (CW - 1))] = __ldg(epi1 + (e >> LCW) * s2 + mc + (e & (CW - 1)));
        sFac[(e >> 4) * 18 + (e & 15)] = __ldg(epi1_b + e);
      } else if (epi1_mode) {
        sEpi1[e] = __ldg(epi1 + (e >> 4) * s1 + (e & 15));  // s2 == 1: m = i'
      }
    }
  }
  __syncthreads();
#pragma unroll
  for (int it = 0; it < TILE / 4 / NTH; it++) {
    const int t = it * NTH + tid;
    const int c = wide ? t & (CW - 1) : (t >> 4) & (CW - 1), i2 = wide ? (t >> LCW) & 15 : t & 15, i4 = t >> (LCW + 4);
    const int at = c * cstride + i2 * s2;
    uint32_t v[4];
#pragma unroll
    for (int k = 0; k < 4; k++) v[k] = xp[at + (4 * i4 + k) * s1];
    const int row = c * 16 + i2;
    if (pro_mode) {  // mode 1 only (pass 0's twist psi^m): one entry per group
      const uint2 w = sPro[row];
#pragma unroll
      for (int k = 0; k < 4; k++) {
        const uint32_t r = shoup_lazy(v[k], w.x, w.y, q);
        v[k] = r >= q ? r - q : r;
      }
    }
#pragma unroll
    for (int jp = 0; jp < 4; jp++) sAw[swz(row, jp * 4 + i4)] = pack_plane(v, jp);
  }
  __syncthreads();
  int acc[MT][NT][4];
#pragma unroll
  for (int stage = 0; stage < 2; stage++) {
    const uint8_t* sB = stage == 0 ? sB1 : sB2;
#pragma unroll
    for (int a = 0; a < MT; a++)
#pragma unroll
      for (int b = 0; b < NT; b++)
#pragma unroll
        for (int cc = 0; cc < 4; cc++) acc[a][b][cc] = 0;
#pragma unroll
    for (int ks = 0; ks < KS; ks++) {
      uint32_t fa[MT][4];
#pragma unroll
      for (int a = 0; a < MT; a++) {
        const int r0 = warp * MT * 16 + a * 16 + gid, w0 = ks * 8 + tig;
        fa[a][0] = sAw[swz(r0, w0)];
        fa[a][1] = sAw[swz(r0 + 8, w0)];
        fa[a][2] = sAw[swz(r0, w0 + 4)];
        fa[a][3] = sAw[swz(r0 + 8, w0 + 4)];
      }
#pragma unroll
      for (int b = 0; b < NT; b++) {
        const uint8_t* c0 = sB + (b * 8 + gid) * LD + ks * 32 + tig * 4;
        uint32_t fb[2] = {*reinterpret_cast<const uint32_t*>(c0), *reinterpret_cast<const uint32_t*>(c0 + 16)};
#pragma unroll
        for (int a = 0; a < MT; a++) mma_u8(acc[a][b], fa[a], fb);
      }
    }
    uint32_t* out_w = reinterpret_cast<uint32_t*>(sA2);  // stage 0: T rows (pitch 20); stage 1: the output tile
#pragma unroll
    for (int a = 0; a < MT; a++)
#pragma unroll
      for (int h = 0; h < 2; h++)
#pragma unroll
        for (int jt = 0; jt < 2; jt++)
#pragma unroll
          for (int cc = 0; cc < 2; cc++) {
            const uint32_t p0 = acc[a][jt][h * 2 + cc], p1 = acc[a][2 + jt][h * 2 + cc];
            const uint32_t p2 = acc[a][4 + jt][h * 2 + cc], p3 = acc[a][6 + jt][h * 2 + cc];
            const uint32_t lo = p0 + (p1 << 8), hi = p2 + (p3 << 8);
            const int row = warp * MT * 16 + a * 16 + h * 8 + gid, j = jt * 8 + tig * 2 + cc;
            const int c = row >> 4, r2 = row & 15;  // stage 0: r2 = i'; stage 1: r2 = j of pass p
            uint4 w = one;
            if (stage == 0) {
              if (epi1_mode == 3) w = sEpi1[j * EJ + c];
              else if (epi1_mode) w = sEpi1[j * 16 + r2];
            } else if (epi2_mode) {
              w = sEpi2[j * EJ + c];
            }
            uint32_t r1v = shoup_lazy(lo, w.x, w.y, q), r2v = shoup_lazy(hi, w.z, w.w, q);
            r1v = r1v >= q ? r1v - q : r1v;
            r2v = r2v >= q ? r2v - q : r2v;
            uint32_t v = r1v + r2v;
            v = v >= q ? v - q : v;
            if (stage == 0 && epi1_mode == 3) {
              const uint2 b = sFac[18 * j + r2];
              v = shoup_lazy(v, b.x, b.y, q);
              v = v >= q ? v - q : v;
            }
            if (stage == 0) {  // -> T[pass p + 1's group (c, j)][slot i' = r2]
              out_w[(c * 16 + j) * (LD / 4) + r2] = v;
            } else {  // element (c, i = r2, i' = j) in store order
              out_w[wide ? wide_at(c, j, r2) : j + 17 * r2 + 272 * c] = v;  // padded: fewer bank conflicts
            }
          }
    __syncthreads();
    if (stage == 0) {  // T row tid -> its byte planes in sA (every warp is done with stage 0's sA)
      const uint32_t* t_row = out_w + tid * (LD / 4);
#pragma unroll
      for (int q4 = 0; q4 < 4; q4++) {
        const uint4 w4 = *reinterpret_cast<const uint4*>(t_row + 4 * q4);
        const uint32_t v4[4] = {w4.x, w4.y, w4.z, w4.w};
#pragma unroll
        for (int jp = 0; jp < 4; jp++) sAw[swz(tid, jp * 4 + q4)] = pack_plane(v4, jp);
      }
      __syncthreads();
    }
  }
#pragma unroll 4
  for (int it = 0; it < TILE / NTH; it++) {
    const int e = it * NTH + tid;
    int c, i, i2;
    if (wide) c = e & (CW - 1), i2 = (e >> LCW) & 15, i = e >> (LCW + 4);
    else i2 = e & 15, i = (e >> 4) & 15, c = e >> 8;
    yp[c * cstride + i * s1 + i2 * s2] = reinterpret_cast<const uint32_t*>(sA2)[wide ? wide_at(c, i2, i) : i2 + 17 * i + 272 * c];
  }
}

#ifndef PAIR_CW
#define PAIR_CW 8  // columns per fused-pair tile (32-byte runs; 16 measured the same on an H100)
#endif
static constexpr int pair_smem(int cw) {  // sA, sA2, sB1, sB2, sEpi1, sEpi2, sPro, sFac
  return 2 * cw * 16 * 80 + 2 * 64 * 80 + 288 * 16 + (cw * 16 + 16) * 16 + cw * 16 * 8 + 288 * 8;
}

// The multi-pass transform (variant 3) on device buffers, x -> y (y may be x).  plan: 9 ints
// per launch, in launch order: kind (1 = one pass, 2 = passes p and p + 1 fused, radix 16
// forward), pass index p, pro table offset (-1: none), pro mode, epi table offset (-1: none),
// epi mode, and for kind 2 pass p + 1's epi offset and mode and the pro-table offset of the
// epi mode 3 factor table; offsets count table entries (uint2 for pro, uint4 for epi).  radix[p] in {16, 32}; wcat: the passes' Wcat matrices
// back to back in pass order.
static int ntt_mp_device(const uint32_t* x, uint32_t* y, int batch, int logn, int npass, const int* radix,
                         int nlaunch, const int* plan, const uint8_t* wcat, const uint2* pro, const uint4* epi,
                         uint64_t q) {
  int logS[16], off[16], o = 0, ls = logn;
  for (int p = 0; p < npass; p++) {
    logS[p] = ls;
    off[p] = o;
    o += 16 * radix[p] * radix[p];
    ls -= radix[p] == 16 ? 4 : 5;
  }
  const dim3 grid((unsigned)((1 << logn) / MP_TILE), (unsigned)batch);
  const uint32_t w16 = (uint32_t)(65536 % q);
  const uint4 one = make_uint4(1u, (uint32_t)((1ull << 32) / q), w16, (uint32_t)(((uint64_t)w16 << 32) / q));
  for (int k = 0; k < nlaunch; k++) {
    const int* pl = plan + 9 * k;
    const int p = pl[1];
    const uint32_t* src = k == 0 ? x : y;
    const uint2* pt = pl[2] < 0 ? nullptr : pro + pl[2];
    const uint4* et = pl[4] < 0 ? nullptr : epi + pl[4];
    const int pm = pl[2] < 0 ? 0 : pl[3], em = pl[4] < 0 ? 0 : pl[5];
    if (pl[0] == 2) {
      const uint4* et2 = pl[6] < 0 ? nullptr : epi + pl[6];
      static bool attr = false;
      if (!attr) {
        CK(cudaFuncSetAttribute(he_ntt_pair16<PAIR_CW>, cudaFuncAttributeMaxDynamicSharedMemorySize, pair_smem(PAIR_CW)));
        attr = true;
      }
      const dim3 pgrid((unsigned)((1 << logn) / (PAIR_CW * 256)), (unsigned)batch);
      const int logs2 = logS[p + 1] - 4;
      const uint2* eb = pl[8] < 0 ? nullptr : pro + pl[8];
      he_ntt_pair16<PAIR_CW><<<pgrid, PAIR_CW * 16, pair_smem(PAIR_CW)>>>(
          src, y, logn, logs2, wcat + off[p], wcat + off[p + 1], pt, pm, et, em, eb, et2, pl[6] < 0 ? 0 : pl[7], one,
          (uint32_t)q);
    } else {
      const int logs = logS[p] - (radix[p] == 16 ? 4 : 5);
      if (radix[p] == 16)
        he_ntt_pass<16><<<grid, MP_THREADS>>>(src, y, logn, logs, wcat + off[p], pt, pm, et, em, one, (uint32_t)q);
      else
        he_ntt_pass<32><<<grid, MP_THREADS>>>(src, y, logn, logs, wcat + off[p], pt, pm, et, em, one, (uint32_t)q);
    }
    CK(cudaGetLastError());
  }
  return 0;
}

static int check_mp(int logn, int npass, const int* radix, uint64_t q) {
  int sum = 0;
  for (int p = 0; p < npass; p++) {
    if (radix[p] != 16 && radix[p] != 32) {
      snprintf(g_err, sizeof g_err, "the multi-pass NTT takes radices 16 and 32, got %d", radix[p]);
      return 1;
    }
    sum += radix[p] == 16 ? 4 : 5;
  }
  if (npass > 16 || sum != logn || logn < 12 || logn > 24) {
    snprintf(g_err, sizeof g_err, "the multi-pass NTT needs 2^12 <= N <= 2^24 and radices whose product is N (log2 N = %d)", logn);
    return 1;
  }
  if (q < 2 || q >= (1ull << 31)) {
    snprintf(g_err, sizeof g_err, "the CUDA he kernels need q < 2^31, got %llu", (unsigned long long)q);
    return 1;
  }
  return 0;
}

struct MpBuffers {
  uint32_t *x = nullptr, *y = nullptr;
  uint8_t* wcat = nullptr;
  uint2* pro = nullptr;
  uint4* epi = nullptr;
  ~MpBuffers() { cudaFree(x); cudaFree(y); cudaFree(wcat); cudaFree(pro); cudaFree(epi); }
};

static int mp_upload(MpBuffers& b, const uint32_t* x, size_t words, const uint8_t* wcat, int wcat_bytes,
                     const uint32_t* pro, int pro_entries, const uint32_t* epi, int epi_entries) {
  CK(cudaMalloc(&b.x, words * 4));
  CK(cudaMalloc(&b.y, words * 4));
  CK(cudaMalloc(&b.wcat, wcat_bytes));
  CK(cudaMalloc(&b.pro, (size_t)(pro_entries > 0 ? pro_entries : 1) * 8));
  CK(cudaMalloc(&b.epi, (size_t)(epi_entries > 0 ? epi_entries : 1) * 16));
  CK(cudaMemcpy(b.x, x, words * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(b.wcat, wcat, wcat_bytes, cudaMemcpyHostToDevice));
  if (pro_entries > 0) CK(cudaMemcpy(b.pro, pro, (size_t)pro_entries * 8, cudaMemcpyHostToDevice));
  if (epi_entries > 0) CK(cudaMemcpy(b.epi, epi, (size_t)epi_entries * 16, cudaMemcpyHostToDevice));
  CK(cudaMemset(b.y, 0xff, words * 4));  // poison: every element must be written
  return 0;
}

// Host arrays in and out: the multi-pass (inverse) NTT of `batch` polynomials x [batch][2^logn]
// with the plan and tables of host.py's mp_tables().
extern "C" int hetc_he_cuda_ntt_mp(const uint32_t* x, uint32_t* y, int batch, int logn, int npass, const int* radix,
                                   int nlaunch, const int* plan, const uint8_t* wcat, int wcat_bytes, const uint32_t* pro,
                                   int pro_entries, const uint32_t* epi, int epi_entries, uint64_t q) {
  if (check_mp(logn, npass, radix, q)) return 1;
  const size_t words = (size_t)batch << logn;
  MpBuffers b;
  if (mp_upload(b, x, words, wcat, wcat_bytes, pro, pro_entries, epi, epi_entries)) return 1;
  if (ntt_mp_device(b.x, b.y, batch, logn, npass, radix, nlaunch, plan, b.wcat, b.pro, b.epi, q)) return 1;
  CK(cudaMemcpy(y, b.y, words * 4, cudaMemcpyDeviceToHost));
  return 0;
}

// Benchmark of a multi-pass NTT (the plan says which): `reps` CUDA-event timings (ms) after `warmup` runs.
extern "C" int hetc_he_cuda_bench_mp(const uint32_t* x, uint32_t* y, int batch, int logn, int npass, const int* radix,
                                     int nlaunch, const int* plan, const uint8_t* wcat, int wcat_bytes, const uint32_t* pro,
                                     int pro_entries, const uint32_t* epi, int epi_entries, uint64_t q, int warmup,
                                     int reps, float* ms) {
  if (check_mp(logn, npass, radix, q)) return 1;
  const size_t words = (size_t)batch << logn;
  MpBuffers b;
  if (mp_upload(b, x, words, wcat, wcat_bytes, pro, pro_entries, epi, epi_entries)) return 1;
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  for (int it = 0; it < warmup + reps; it++) {
    CK(cudaEventRecord(e0));
    if (ntt_mp_device(b.x, b.y, batch, logn, npass, radix, nlaunch, plan, b.wcat, b.pro, b.epi, q)) return 1;
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    if (it >= warmup) CK(cudaEventElapsedTime(&ms[it - warmup], e0, e1));
  }
  CK(cudaMemcpy(y, b.y, words * 4, cudaMemcpyDeviceToHost));
  CK(cudaEventDestroy(e0));
  CK(cudaEventDestroy(e1));
  return 0;
}

static int check_shape(int c, int r, uint64_t q) {
  if (c % BM || r % BN || c < BM || r < BN) {
    snprintf(g_err, sizeof g_err, "the tensor-core NTT needs C, R multiples of 64 (N >= 4096), got C=%d R=%d", c, r);
    return 1;
  }
  if (q < 2 || q >= (1ull << 31)) {
    snprintf(g_err, sizeof g_err, "the CUDA he kernels need q < 2^31, got %llu", (unsigned long long)q);
    return 1;
  }
  return 0;
}

// 0 if a CUDA device is usable, else 1 with the reason in hetc_he_cuda_error()
extern "C" int hetc_he_cuda_probe(char* name, int len) {
  int count = 0;
  CK(cudaGetDeviceCount(&count));
  if (count < 1) {
    snprintf(g_err, sizeof g_err, "no CUDA device");
    return 1;
  }
  cudaDeviceProp p;
  CK(cudaGetDeviceProperties(&p, 0));
  snprintf(name, len, "%s (sm_%d%d, %d SMs)", p.name, p.major, p.minor, p.multiProcessorCount);
  return 0;
}

// Host arrays in and out: y = NTT (inverse: INTT) of `batch` polynomials x [batch][C*R].
extern "C" int hetc_he_cuda_ntt(int variant, int inverse, const uint32_t* x, uint32_t* y, int batch, int c, int r, uint64_t q,
                                const uint8_t* w1, const uint32_t* twist, const uint8_t* w2) {
  if (check_shape(c, r, q)) return 1;
  g_variant = variant;
  const size_t words = (size_t)batch * c * r, k1 = inverse ? r : c, k2 = inverse ? c : r;
  uint32_t *dx = nullptr, *dt = nullptr, *dy = nullptr, *dtw = nullptr;
  uint8_t *dw1 = nullptr, *dw2 = nullptr;
  int rc = 1;
  if (cudaMalloc(&dx, words * 4) || cudaMalloc(&dt, words * 4) || cudaMalloc(&dy, words * 4) ||
      cudaMalloc(&dtw, (size_t)c * r * 4) || cudaMalloc(&dw1, 16 * k1 * k1) || cudaMalloc(&dw2, 16 * k2 * k2)) {
    snprintf(g_err, sizeof g_err, "cudaMalloc failed: %s", cudaGetErrorString(cudaGetLastError()));
    goto done;
  }
  if (cudaMemcpy(dx, x, words * 4, cudaMemcpyHostToDevice) ||
      cudaMemcpy(dtw, twist, (size_t)c * r * 4, cudaMemcpyHostToDevice) ||
      cudaMemcpy(dw1, w1, 16 * k1 * k1, cudaMemcpyHostToDevice) ||
      cudaMemcpy(dw2, w2, 16 * k2 * k2, cudaMemcpyHostToDevice)) {
    snprintf(g_err, sizeof g_err, "cudaMemcpy failed: %s", cudaGetErrorString(cudaGetLastError()));
    goto done;
  }
  if (ntt_tc_device(inverse, dx, dt, dy, batch, c, r, q, dw1, dtw, dw2)) goto done;
  if (cudaMemcpy(y, dy, words * 4, cudaMemcpyDeviceToHost)) {
    snprintf(g_err, sizeof g_err, "kernel or copy-back failed: %s", cudaGetErrorString(cudaGetLastError()));
    goto done;
  }
  rc = 0;
done:
  cudaFree(dx); cudaFree(dt); cudaFree(dy); cudaFree(dtw); cudaFree(dw1); cudaFree(dw2);
  return rc;
}

// Host arrays in and out: out = (W @ X) mod q for `batch` independent X [batch][K][N] (u32 < q)
// with one constant W [M][K] given as its 16 pre-scaled byte planes [16][M][K] (host.py
// byte_planes).  Shapes must be padded by the caller: M, N % 64 == 0, K % 64 == 0.
extern "C" int hetc_he_cuda_modmatmul(int variant, const uint8_t* w_planes, const uint32_t* x, uint32_t* out, int batch,
                                      int m, int n, int k, uint64_t q) {
  if (m % BM || n % BN || k % MK || m < BM || n < BN) {
    snprintf(g_err, sizeof g_err, "modmatmul needs M, N multiples of 64 and K of %d, got %d x %d x %d", MK, m, k, n);
    return 1;
  }
  if (q < 2 || q >= (1ull << 31)) {
    snprintf(g_err, sizeof g_err, "the CUDA he kernels need q < 2^31, got %llu", (unsigned long long)q);
    return 1;
  }
  g_variant = variant;
  uint8_t* dw = nullptr;
  uint32_t *dx = nullptr, *dout = nullptr;
  int rc = 1;
  const size_t xw = (size_t)batch * k * n, ow = (size_t)batch * m * n;
  if (cudaMalloc(&dw, 16 * (size_t)m * k) || cudaMalloc(&dx, xw * 4) || cudaMalloc(&dout, ow * 4)) {
    snprintf(g_err, sizeof g_err, "cudaMalloc failed: %s", cudaGetErrorString(cudaGetLastError()));
    goto done;
  }
  if (cudaMemcpy(dw, w_planes, 16 * (size_t)m * k, cudaMemcpyHostToDevice) || cudaMemcpy(dx, x, xw * 4, cudaMemcpyHostToDevice)) {
    snprintf(g_err, sizeof g_err, "cudaMemcpy failed: %s", cudaGetErrorString(cudaGetLastError()));
    goto done;
  }
  if (launch_bat(false, dx, dw, nullptr, dout, m, n, k, batch, q)) goto done;
  if (cudaMemcpy(out, dout, ow * 4, cudaMemcpyDeviceToHost)) {
    snprintf(g_err, sizeof g_err, "kernel or copy-back failed: %s", cudaGetErrorString(cudaGetLastError()));
    goto done;
  }
  rc = 0;
done:
  cudaFree(dw); cudaFree(dx); cudaFree(dout);
  return rc;
}

// Benchmark: both forward NTTs on the same `batch` polynomials, each timed `reps` times with
// CUDA events after `warmup` runs (times in ms per batched transform go to ms_tc / ms_u64;
// the results of the last run to y_tc / y_u64).  psi / psi_shoup: the u64 baseline's root
// table psi^brv(k) and floor(psi^brv(k) 2^64 / q), k < n.
extern "C" int hetc_he_cuda_bench(int variant, const uint32_t* x, uint32_t* y_tc, uint32_t* y_u64, int batch, int logn, int c, int r,
                                  uint64_t q, const uint8_t* w1, const uint32_t* twist, const uint8_t* w2,
                                  const uint64_t* psi, const uint64_t* psi_shoup, int warmup, int reps, float* ms_tc,
                                  float* ms_u64) {
  if (check_shape(c, r, q)) return 1;
  g_variant = variant;
  const int64_t n = (int64_t)1 << logn;
  const size_t words = (size_t)batch * n;
  uint32_t *dx, *dt, *dy, *dtw, *dx32;
  uint8_t *dw1, *dw2;
  uint64_t *da, *dpsi, *dpsp;
  CK(cudaMalloc(&dx, words * 4));
  CK(cudaMalloc(&dt, words * 4));
  CK(cudaMalloc(&dy, words * 4));
  CK(cudaMalloc(&dx32, words * 4));
  CK(cudaMalloc(&dtw, (size_t)n * 4));
  CK(cudaMalloc(&dw1, 16 * (size_t)c * c));
  CK(cudaMalloc(&dw2, 16 * (size_t)r * r));
  CK(cudaMalloc(&da, words * 8));
  CK(cudaMalloc(&dpsi, n * 8));
  CK(cudaMalloc(&dpsp, n * 8));
  CK(cudaMemcpy(dx, x, words * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dtw, twist, n * 4, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dw1, w1, 16 * (size_t)c * c, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dw2, w2, 16 * (size_t)r * r, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dpsi, psi, n * 8, cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dpsp, psi_shoup, n * 8, cudaMemcpyHostToDevice));
  // poison the outputs: every element must be written
  CK(cudaMemset(dy, 0xff, words * 4));
  CK(cudaMemset(dx32, 0xff, words * 4));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  const unsigned eb = (unsigned)((words + 255) / 256);
  for (int it = 0; it < warmup + reps; it++) {
    CK(cudaEventRecord(e0));
    if (ntt_tc_device(0, dx, dt, dy, batch, c, r, q, dw1, dtw, dw2)) return 1;
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    if (it >= warmup) CK(cudaEventElapsedTime(&ms_tc[it - warmup], e0, e1));
  }
  for (int it = 0; it < warmup + reps; it++) {
    // the u64 kernel works in place on u64 words: reload the input first (untimed)
    widen<<<eb, 256>>>(dx, da, (int64_t)words);
    CK(cudaGetLastError());
    CK(cudaEventRecord(e0));
    if (ntt_u64_device(da, dpsi, dpsp, logn, batch, q)) return 1;
    CK(cudaEventRecord(e1));
    CK(cudaEventSynchronize(e1));
    if (it >= warmup) CK(cudaEventElapsedTime(&ms_u64[it - warmup], e0, e1));
  }
  narrow<<<eb, 256>>>(da, dx32, (int64_t)words);
  CK(cudaGetLastError());
  CK(cudaMemcpy(y_tc, dy, words * 4, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(y_u64, dx32, words * 4, cudaMemcpyDeviceToHost));
  CK(cudaEventDestroy(e0));
  CK(cudaEventDestroy(e1));
  cudaFree(dx); cudaFree(dt); cudaFree(dy); cudaFree(dx32); cudaFree(dtw); cudaFree(dw1); cudaFree(dw2);
  cudaFree(da); cudaFree(dpsi); cudaFree(dpsp);
  return 0;
}
