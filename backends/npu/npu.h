/* npu.h: the hetc NPU's programming interface (issue 8).
 *
 * The NPU computes out of a software-managed scratchpad (SPM) of NPU_SPM_BYTES bytes.
 * DRAM is host memory: graph inputs and outputs, the weights blob and a scratch area
 * for spilled intermediates. A generated program (model.c) is a straight line of:
 *
 *   npu_dma_in(spm_off, dram, bytes)          DRAM -> SPM, contiguous
 *   npu_dma_in_region(spm_off, dram, elem, rank, shape, starts, ends)
 *                                             a strided box of a row-major DRAM tensor
 *   npu_dma_out(dram, spm_off, bytes)         SPM -> DRAM
 *   npu_dma_out_region(dram, spm_off, elem, rank, shape, starts, ends)
 *                                             into a strided box of a DRAM tensor (a tile of an output)
 *   npu_move(dst_off, src_off, bytes)         SPM -> SPM (compaction)
 *   npu_matmul_tile(m, n, k)                  an m x n x k product on the N x N matrix unit
 *   npu_vector_op(elements)                   element operations on the vector unit
 *   npu_dma_gather(bytes)                     the next kernel reads rows of a DRAM table by
 *                                             index (an indexed DMA: embedding lookups)
 *   npu_compute(operands, n)                  issue the next kernel: its SPM operands, each
 *                                             {offset, bytes, written}
 *   kernel(npu_spm(off, bytes), ...)          a compute kernel on SPM operands
 *
 * Kernels run on the NPU's cores and touch only SPM memory (pointers from npu_spm);
 * npu_matmul_tile / npu_vector_op / npu_dma_gather tell the timing model what the next
 * kernel costs, npu_compute what it reads and writes.
 *
 * Traffic. Every DMA's bytes are counted, split into compulsory (the first load of each
 * input or weight region, the first store of each output region) and non-compulsory
 * (spills, reloads, repeated stores): DRAM buffers are registered with their kind first.
 *
 * Timing model (cycles). Three units run concurrently, each in program order: the DMA
 * engine (DMA in/out, region DMAs, gathers and SPM moves, one at a time), the matrix unit
 * and the vector unit (a kernel with matrix work runs on the matrix unit, else on the
 * vector unit). Busy times:
 *   DMA of b bytes       dma_latency_cycles + ceil(b / dma_bytes_per_cycle)
 *   move of b bytes      ceil(b / spm_bytes_per_cycle)
 *   matmul m x n x k     ceil(m/N) * ceil(n/N) * ceil(k/N) * matrix_cycles_per_tile
 *   vector of e elements ceil(e / vector_lanes)
 *   gather of b bytes    dma_latency_cycles + ceil(b / dma_bytes_per_cycle)  (counted apart
 *                        from the DMA traffic: the plan cannot change it)
 * A step starts when its unit is free and its data are: a DMA into the SPM waits for the
 * last reader and writer of the bytes it overwrites, a DMA out for the writer of the
 * bytes it reads, a kernel for the writers of its read operands and the users of its
 * written ones (per 16-byte granule of the SPM). `cycles` is when the last unit finishes;
 * `serial_cycles` the sum of all busy times (no overlap); `compute_wait_cycles` how long
 * the compute units sat idle waiting for data.
 *
 * runtime/npu_sim.c implements this header in C (a functional simulator with counters).
 */
#ifndef HETC_NPU_H
#define HETC_NPU_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint64_t spm_bytes, matrix_n, matrix_cycles_per_tile, vector_lanes;
  uint64_t dma_bytes_per_cycle, dma_latency_cycles, spm_bytes_per_cycle;
} npu_config_t;

/* one SPM operand of a kernel, for the timing model */
typedef struct {
  uint64_t offset, bytes;
  int written;
} npu_operand_t;

enum { NPU_DRAM_INPUT = 0, NPU_DRAM_WEIGHT = 1, NPU_DRAM_OUTPUT = 2, NPU_DRAM_SCRATCH = 3 };

typedef struct {
  uint64_t dma_in_bytes, dma_out_bytes;      /* all DMA traffic */
  uint64_t compulsory_bytes, noncompulsory_bytes;
  uint64_t moved_bytes, dma_count, matrix_tiles, vector_elements;
  uint64_t cycles, dma_cycles, matrix_cycles, vector_cycles, move_cycles;  /* cycles: makespan; the rest: busy */
  uint64_t spm_high_water;                   /* highest SPM byte any access reached */
  uint64_t gathered_bytes;                   /* indexed-DMA reads of DRAM tables */
  uint64_t serial_cycles;                    /* sum of every unit's busy cycles */
  uint64_t compute_wait_cycles;              /* compute units idle, waiting for data */
  int error;                                 /* nonzero after an illegal access */
  char message[256];
} npu_stats_t;

/* start a run: SPM of cfg->spm_bytes (zeroed), counters and DRAM registrations cleared */
int npu_begin(const npu_config_t* cfg);
/* declare a DRAM buffer and its kind (NPU_DRAM_*) for the compulsory/non-compulsory split */
void npu_register(const void* dram, size_t bytes, int kind);
/* a pointer to SPM bytes [offset, offset + bytes): out of range is an error (NULL) */
void* npu_spm(size_t offset, size_t bytes);
void npu_dma_in(size_t spm_off, const void* dram, size_t bytes);
void npu_dma_in_region(size_t spm_off, const void* dram, size_t elem, int rank, const int64_t* shape,
                       const int64_t* starts, const int64_t* ends);
void npu_dma_out(void* dram, size_t spm_off, size_t bytes);
void npu_dma_out_region(void* dram, size_t spm_off, size_t elem, int rank, const int64_t* shape,
                        const int64_t* starts, const int64_t* ends);
void npu_move(size_t dst_off, size_t src_off, size_t bytes);
void npu_matmul_tile(int64_t m, int64_t n, int64_t k);
void npu_vector_op(int64_t elements);
void npu_dma_gather(size_t bytes);
/* issue the next kernel on the compute units (the charges since the last one) */
void npu_compute(const npu_operand_t* operands, int n);
/* counters of the current run */
const npu_stats_t* npu_stats(void);

#ifdef __cplusplus
}
#endif
#endif
