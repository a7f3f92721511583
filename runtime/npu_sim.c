/* The hetc NPU simulator: implements backends/npu/npu.h on the host.
 *
 * The scratchpad is a byte array of the preset's size; DRAM is host memory. Every
 * npu.h call is executed (functional simulation: kernels compute on SPM bytes) and
 * counted. An access outside the SPM sets `error` and the message and returns NULL /
 * does nothing, so the generated program stops with a status instead of corrupting
 * memory. Compulsory traffic: the first load of a (DRAM address, bytes) region that lies
 * in a registered input or weight buffer, the first store of such a region of an output
 * buffer; the rest is non-compulsory. Cycles follow the serial model documented in npu.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npu.h"

static npu_config_t cfg;
static npu_stats_t st;
static unsigned char* spm;
static size_t spm_cap;

typedef struct { const unsigned char* base; size_t bytes; int kind; } dram_range;
static dram_range ranges[256];
static int nranges;

/* an open-addressing set of (address, bytes) keys already moved once */
static uint64_t* seen;
static size_t seen_cap, seen_n;

static uint64_t key_of(const void* p, size_t bytes, int dir) {
  return ((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)bytes << 1) ^ (uint64_t)dir ^ 1ull;
}

static int first_time(uint64_t k) {
  if (seen_n * 2 + 2 > seen_cap) {
    size_t old = seen_cap;
    uint64_t* prev = seen;
    seen_cap = old ? old * 2 : 1024;
    seen = (uint64_t*)calloc(seen_cap, sizeof(uint64_t));
    seen_n = 0;
    for (size_t i = 0; i < old; i++)
      if (prev[i]) {
        size_t h = (size_t)(prev[i] % seen_cap);
        while (seen[h]) h = (h + 1) % seen_cap;
        seen[h] = prev[i];
        seen_n++;
      }
    free(prev);
  }
  size_t h = (size_t)(k % seen_cap);
  while (seen[h]) {
    if (seen[h] == k) return 0;
    h = (h + 1) % seen_cap;
  }
  seen[h] = k;
  seen_n++;
  return 1;
}

static int kind_of(const void* p) {
  const unsigned char* q = (const unsigned char*)p;
  for (int i = 0; i < nranges; i++)
    if (q >= ranges[i].base && q < ranges[i].base + ranges[i].bytes) return ranges[i].kind;
  return NPU_DRAM_SCRATCH;
}

static void fail(const char* what, size_t off, size_t bytes) {
  if (!st.error)
    snprintf(st.message, sizeof st.message, "%s: SPM bytes [%zu, %zu) outside the %zu-byte scratchpad", what, off,
             off + bytes, spm_cap);
  st.error = 1;
}

static int in_spm(const char* what, size_t off, size_t bytes) {
  if (off > spm_cap || bytes > spm_cap - off) {
    fail(what, off, bytes);
    return 0;
  }
  if (off + bytes > st.spm_high_water) st.spm_high_water = off + bytes;
  return 1;
}

static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

static void charge_dma(size_t bytes) {
  uint64_t c = cfg.dma_latency_cycles + ceil_div(bytes, cfg.dma_bytes_per_cycle);
  st.dma_cycles += c;
  st.cycles += c;
  st.dma_count++;
}

int npu_begin(const npu_config_t* c) {
  cfg = *c;
  memset(&st, 0, sizeof st);
  if (spm_cap != cfg.spm_bytes) {
    free(spm);
    spm = (unsigned char*)malloc(cfg.spm_bytes);
    spm_cap = cfg.spm_bytes;
  }
  if (!spm) return 1;
  memset(spm, 0, spm_cap);
  nranges = 0;
  if (seen) memset(seen, 0, seen_cap * sizeof(uint64_t));
  seen_n = 0;
  return 0;
}

void npu_register(const void* dram, size_t bytes, int kind) {
  if (nranges < 256) ranges[nranges++] = (dram_range){(const unsigned char*)dram, bytes, kind};
}

void* npu_spm(size_t offset, size_t bytes) {
  if (!in_spm("npu_spm", offset, bytes)) return NULL;
  return spm + offset;
}

static void count_in(const void* dram, size_t bytes, uint64_t key) {
  int k = kind_of(dram);
  st.dma_in_bytes += bytes;
  if ((k == NPU_DRAM_INPUT || k == NPU_DRAM_WEIGHT) && first_time(key))
    st.compulsory_bytes += bytes;
  else
    st.noncompulsory_bytes += bytes;
  charge_dma(bytes);
}

void npu_dma_in(size_t spm_off, const void* dram, size_t bytes) {
  if (!in_spm("npu_dma_in", spm_off, bytes)) return;
  memcpy(spm + spm_off, dram, bytes);
  count_in(dram, bytes, key_of(dram, bytes, 0));
}

/* copy a box of a row-major DRAM tensor to (dir 0) or from (dir 1) contiguous SPM bytes;
 * rows of the innermost dimension are contiguous runs, the others walk as an odometer */
static size_t strided(int dir, size_t spm_off, unsigned char* dram, size_t elem, int rank, const int64_t* shape,
                      const int64_t* starts, const int64_t* ends, const char* what) {
  size_t total = elem;
  for (int d = 0; d < rank; d++) total *= (size_t)(ends[d] - starts[d]);
  if (rank > 16 || !in_spm(what, spm_off, total)) return 0;
  int64_t idx[16], stride[16];
  int64_t s = (int64_t)elem;
  for (int d = rank - 1; d >= 0; d--) { stride[d] = s; s *= shape[d]; idx[d] = starts[d]; }
  size_t run = (size_t)(ends[rank - 1] - starts[rank - 1]) * elem;
  size_t done = 0;
  while (done < total) {
    int64_t off = 0;
    for (int d = 0; d < rank; d++) off += idx[d] * stride[d];
    if (dir == 0) memcpy(spm + spm_off + done, dram + off, run);
    else memcpy(dram + off, spm + spm_off + done, run);
    done += run;
    for (int d = rank - 2; d >= 0; d--) {
      if (++idx[d] < ends[d]) break;
      idx[d] = starts[d];
    }
  }
  return total;
}

/* a region's key: its buffer, size and box, so two tiles' windows are distinct */
static uint64_t region_key(const void* dram, size_t total, int rank, const int64_t* starts, const int64_t* ends, int dir) {
  uint64_t key = key_of(dram, total, dir);
  for (int d = 0; d < rank; d++) key = key * 1000003ull ^ (uint64_t)starts[d] * 7919ull ^ (uint64_t)ends[d];
  return key | 1ull;
}

void npu_dma_in_region(size_t spm_off, const void* dram, size_t elem, int rank, const int64_t* shape,
                       const int64_t* starts, const int64_t* ends) {
  size_t total = strided(0, spm_off, (unsigned char*)dram, elem, rank, shape, starts, ends, "npu_dma_in_region");
  if (total) count_in(dram, total, region_key(dram, total, rank, starts, ends, 0));
}

static void count_out(void* dram, size_t bytes, uint64_t key) {
  st.dma_out_bytes += bytes;
  if (kind_of(dram) == NPU_DRAM_OUTPUT && first_time(key))
    st.compulsory_bytes += bytes;
  else
    st.noncompulsory_bytes += bytes;
  charge_dma(bytes);
}

void npu_dma_out_region(void* dram, size_t spm_off, size_t elem, int rank, const int64_t* shape,
                        const int64_t* starts, const int64_t* ends) {
  size_t total = strided(1, spm_off, (unsigned char*)dram, elem, rank, shape, starts, ends, "npu_dma_out_region");
  if (total) count_out(dram, total, region_key(dram, total, rank, starts, ends, 2));
}

void npu_dma_out(void* dram, size_t spm_off, size_t bytes) {
  if (!in_spm("npu_dma_out", spm_off, bytes)) return;
  memcpy(dram, spm + spm_off, bytes);
  count_out(dram, bytes, key_of(dram, bytes, 2));
}

void npu_move(size_t dst_off, size_t src_off, size_t bytes) {
  if (!in_spm("npu_move", dst_off, bytes) || !in_spm("npu_move", src_off, bytes)) return;
  memmove(spm + dst_off, spm + src_off, bytes);
  st.moved_bytes += bytes;
  uint64_t c = ceil_div(bytes, cfg.spm_bytes_per_cycle);
  st.move_cycles += c;
  st.cycles += c;
}

void npu_matmul_tile(int64_t m, int64_t n, int64_t k) {
  uint64_t N = cfg.matrix_n;
  uint64_t tiles = ceil_div((uint64_t)m, N) * ceil_div((uint64_t)n, N) * ceil_div((uint64_t)k, N);
  st.matrix_tiles += tiles;
  st.matrix_cycles += tiles * cfg.matrix_cycles_per_tile;
  st.cycles += tiles * cfg.matrix_cycles_per_tile;
}

void npu_vector_op(int64_t elements) {
  uint64_t c = ceil_div((uint64_t)elements, cfg.vector_lanes);
  st.vector_elements += (uint64_t)elements;
  st.vector_cycles += c;
  st.cycles += c;
}

void npu_dma_gather(size_t bytes) {
  uint64_t c = cfg.dma_latency_cycles + ceil_div(bytes, cfg.dma_bytes_per_cycle);
  st.gathered_bytes += bytes;
  st.dma_cycles += c;
  st.cycles += c;
}

const npu_stats_t* npu_stats(void) { return &st; }
