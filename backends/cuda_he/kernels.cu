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
