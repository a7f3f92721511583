/* The hetc NPU simulator: implements backends/npu/npu.h on the host.
 *
 * The scratchpad is a byte array of the preset's size; DRAM is host memory. Every
 * npu.h call is executed (functional simulation: kernels compute on SPM bytes) and
 * counted. An access outside the SPM sets `error` and the message and returns NULL /
 * does nothing, so the generated program stops with a status instead of corrupting
 * memory. Compulsory traffic: the first load of a (DRAM address, bytes) region that lies
 * in a registered input or weight buffer, the first store of such a region of an output
 * buffer; the rest is non-compulsory.
 *
 * Timing (the model documented in npu.h): the DMA engine and the compute units run
 * concurrently. Each keeps its own clock (the cycle it becomes free); a transfer or a
 * kernel starts when its unit is free and its data are ready, which a scoreboard over
 * the scratchpad decides: per 16-byte granule, the cycle its last write completes and the
 * cycle its last read completes. A DMA into the SPM (or a move's destination) waits for
 * the last reader and writer of the bytes it overwrites; a DMA out of the SPM waits for
 * their writer; a kernel waits for the writers of what it reads and for the readers and
 * writers of what it writes (its operands come from npu_compute). `cycles` is the cycle
 * the last unit finishes; `serial_cycles` the sum of every unit's busy time (what a
 * machine with no overlap would take).
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
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* ---- timing: unit clocks and the SPM scoreboard ---- */
#define GRANULE 16
enum { UNIT_MATRIX = 0, UNIT_VECTOR = 1 };
static uint64_t* sb_write; /* per granule: cycle its last write completes */
static uint64_t* sb_read;  /* per granule: cycle its last read completes */
static size_t sb_n;
static uint64_t dma_free, unit_free[2];
static uint64_t pending_matrix, pending_vector, pending_gather;

static void finish_at(uint64_t t) {
  if (t > st.cycles) st.cycles = t;
}

/* the cycle the bytes [off, off + bytes) may be read (their last writer is done) */
static uint64_t ready_to_read(size_t off, size_t bytes) {
  uint64_t t = 0;
  if (!bytes) return 0;
  for (size_t g = off / GRANULE, e = (off + bytes - 1) / GRANULE; g <= e && g < sb_n; g++) t = max_u64(t, sb_write[g]);
  return t;
}

/* ... may be overwritten (their last reader and writer are done) */
static uint64_t ready_to_write(size_t off, size_t bytes) {
  uint64_t t = 0;
  if (!bytes) return 0;
  for (size_t g = off / GRANULE, e = (off + bytes - 1) / GRANULE; g <= e && g < sb_n; g++)
    t = max_u64(t, max_u64(sb_write[g], sb_read[g]));
  return t;
}

static void mark(size_t off, size_t bytes, uint64_t t, int written) {
  if (!bytes) return;
  for (size_t g = off / GRANULE, e = (off + bytes - 1) / GRANULE; g <= e && g < sb_n; g++) {
    if (written) sb_write[g] = t;
    else sb_read[g] = max_u64(sb_read[g], t);
  }
}

static uint64_t dma_time(size_t bytes) { return cfg.dma_latency_cycles + ceil_div(bytes, cfg.dma_bytes_per_cycle); }

/* one transfer on the DMA engine, in program order, no earlier than `ready` */
static uint64_t dma_issue(uint64_t ready, uint64_t busy) {
  uint64_t start = max_u64(dma_free, ready);
  dma_free = start + busy;
  st.serial_cycles += busy;
  finish_at(dma_free);
  return dma_free;
}

static void charge_dma(size_t bytes) {
  st.dma_cycles += dma_time(bytes);
  st.dma_count++;
}

/* a kernel on the compute units: the charges since the last kernel, its operands' deps */
static void issue_kernel(const npu_operand_t* ops, int n) {
  uint64_t ready = 0;
  for (int i = 0; i < n; i++)
    ready = max_u64(ready, ops[i].written ? ready_to_write(ops[i].offset, ops[i].bytes)
                                          : ready_to_read(ops[i].offset, ops[i].bytes));
  if (pending_gather) {
    /* the indexed DMA runs once the indices are resident; the kernel waits for its rows */
    uint64_t rows_ready = dma_issue(ready, dma_time(pending_gather));
    ready = max_u64(ready, rows_ready);
    pending_gather = 0;
  }
  int unit = pending_matrix ? UNIT_MATRIX : UNIT_VECTOR;
  uint64_t busy = pending_matrix + pending_vector;
  if (ready > unit_free[unit]) st.compute_wait_cycles += ready - unit_free[unit];
  uint64_t start = max_u64(unit_free[unit], ready), end = start + busy;
  unit_free[unit] = end;
  st.serial_cycles += busy;
  finish_at(end);
  for (int i = 0; i < n; i++) mark(ops[i].offset, ops[i].bytes, end, ops[i].written);
  pending_matrix = pending_vector = 0;
}

void npu_compute(const npu_operand_t* operands, int n) {
  for (int i = 0; i < n; i++)
    if (!in_spm("npu_compute", operands[i].offset, operands[i].bytes)) return;
  issue_kernel(operands, n);
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
  size_t granules = ceil_div(cfg.spm_bytes, GRANULE);
  if (granules != sb_n) {
    free(sb_write);
    free(sb_read);
    sb_write = (uint64_t*)malloc(granules * sizeof(uint64_t));
    sb_read = (uint64_t*)malloc(granules * sizeof(uint64_t));
    sb_n = granules;
  }
  if (!sb_write || !sb_read) return 1;
  memset(sb_write, 0, sb_n * sizeof(uint64_t));
  memset(sb_read, 0, sb_n * sizeof(uint64_t));
  dma_free = unit_free[0] = unit_free[1] = 0;
  pending_matrix = pending_vector = pending_gather = 0;
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
  mark(spm_off, bytes, dma_issue(ready_to_write(spm_off, bytes), dma_time(bytes)), 1);
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
  if (!total) return;
  count_in(dram, total, region_key(dram, total, rank, starts, ends, 0));
  mark(spm_off, total, dma_issue(ready_to_write(spm_off, total), dma_time(total)), 1);
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
  if (!total) return;
  count_out(dram, total, region_key(dram, total, rank, starts, ends, 2));
  mark(spm_off, total, dma_issue(ready_to_read(spm_off, total), dma_time(total)), 0);
}

void npu_dma_out(void* dram, size_t spm_off, size_t bytes) {
  if (!in_spm("npu_dma_out", spm_off, bytes)) return;
  memcpy(dram, spm + spm_off, bytes);
  count_out(dram, bytes, key_of(dram, bytes, 2));
  mark(spm_off, bytes, dma_issue(ready_to_read(spm_off, bytes), dma_time(bytes)), 0);
}

void npu_move(size_t dst_off, size_t src_off, size_t bytes) {
  if (!in_spm("npu_move", dst_off, bytes) || !in_spm("npu_move", src_off, bytes)) return;
  memmove(spm + dst_off, spm + src_off, bytes);
  st.moved_bytes += bytes;
  uint64_t c = ceil_div(bytes, cfg.spm_bytes_per_cycle);
  st.move_cycles += c;
  /* compaction runs on the DMA engine: after the source's writer and the destination's users */
  uint64_t end = dma_issue(max_u64(ready_to_read(src_off, bytes), ready_to_write(dst_off, bytes)), c);
  mark(src_off, bytes, end, 0);
  mark(dst_off, bytes, end, 1);
}

void npu_matmul_tile(int64_t m, int64_t n, int64_t k) {
  uint64_t N = cfg.matrix_n;
  uint64_t tiles = ceil_div((uint64_t)m, N) * ceil_div((uint64_t)n, N) * ceil_div((uint64_t)k, N);
  st.matrix_tiles += tiles;
  st.matrix_cycles += tiles * cfg.matrix_cycles_per_tile;
  pending_matrix += tiles * cfg.matrix_cycles_per_tile;
}

void npu_vector_op(int64_t elements) {
  uint64_t c = ceil_div((uint64_t)elements, cfg.vector_lanes);
  st.vector_elements += (uint64_t)elements;
  st.vector_cycles += c;
  pending_vector += c;
}

void npu_dma_gather(size_t bytes) {
  st.gathered_bytes += bytes;
  st.dma_cycles += dma_time(bytes);
  pending_gather += bytes;
}

const npu_stats_t* npu_stats(void) {
  /* charges no npu_compute claimed (a program without operand lists): a kernel with no deps */
  if (pending_matrix || pending_vector || pending_gather) issue_kernel(NULL, 0);
  return &st;
}
