// The numbers and kernel tables that the host side needs too. ai.convoy.kernels.cuda.KernelConstants reads this file
// from the jar, so each is written once: only `#define NAME integer` lines and `#define NAME_TABLE(X) X(...) ...`
// tables, nothing the preprocessor must work out.
#pragma once

// dtype of dense weights (embed, matmul)
#define DTYPE_F32 0
#define DTYPE_BF16 1
#define DTYPE_F16 2
// how the generic product (matmul) reads a weight: dense of a dtype, four-bit (codebook and a scale per block), int8 rows
// (a scale per row)
#define FORMAT_DENSE 0
#define FORMAT_4BIT 1
#define FORMAT_INT8 2

// threads of a decode product block (matvec_*)
#define MV_THREADS 128
// four-bit blocks of 2^MV_SPECIAL_SHIFT weights (bitsandbytes' default) have decode kernels of their own, named _b64
#define MV_SPECIAL_SHIFT 6
#define MV_SPECIAL_BLOCKSIZE 64
// sums per row of a bf16 gate/up decode block: two features of each
#define MV_BF16_SWIGLU_SUMS 4
// four-bit weights are repacked in tiles of this many weights of a row for the decode and tensor-core kernels
#define TILE_4BIT 1024

// the decode kernels by rows, the first that takes a product runs it: X(rows, sums per row of a four-bit block, of a
// four-bit gate/up block, of a bf16 block) (the best of ops/cuda/tune-matvec on an H100)
#define MATVEC_TABLE(X) X(1, 4, 8, 2) X(2, 2, 4, 2) X(4, 4, 4, 4) X(8, 4, 4, 4)
// the tensor-core kernels, the first that suits a product runs it: X(16-feature tiles a warp, 8-row tiles a warp, warps
// a block, fewest outputs of a matrix it takes). The fastest of ops/cuda/tune-matvec on an H100 for 5-8, 9-16, 17-32
// and 33-64 rows over the Llama-3-8B and -70B shapes; 17-32 rows of matrices of 8192 outputs or more take four
// feature tiles a warp (5-22% faster there, slower on narrower ones)
#define MMA_TABLE(X) X(1, 1, 8, 0) X(1, 2, 4, 0) X(4, 4, 8, 8192) X(2, 4, 8, 0) X(2, 8, 4, 0)

// threads of argmax_parts
#define ARGMAX_THREADS 256
// sampled picks: threads of a block (one picked row), most scores top-k may leave for shared memory, ints of a pick's
// parameters
#define SAMPLE_THREADS 1024
#define SAMPLE_CANDIDATES 4096
#define SAMPLE_PARAMS 9

// decode attention: warps a block, dimensions a lane of the lanes kernel, 16-byte loads a thread holds ahead in the
// tiles kernel, most query-head dimensions a block of the tiles kernel holds
#define ATT_WARPS 8
#define ATT_CHUNK 16
#define ATT_LOADS 2
#define ATT_HEAD_DIMS 2048
// prefill attention: query rows and keys a tile, warps a block, largest head dimension
#define PF_QUERIES 64
#define PF_KEYS 16
#define PF_WARPS 8
#define PF_MAX_DIM 128
