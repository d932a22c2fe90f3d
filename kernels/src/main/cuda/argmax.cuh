// Greedy picks and row gathers.
#pragma once
#include "common.cuh"
// ids[r] = the first index of the largest value of row r, a NaN counting as the largest (as torch.argmax has it):
// greedy picks made where the logits are, so only the ids travel to the host. Two stages: blocks of ARGMAX_THREADS
// take `span` columns of a row each (argmax_parts; a vocabulary row in one block was latency-bound, 60 us), then a warp
// per row merges its parts (argmax_merge).
__device__ __forceinline__ bool argmax_better(float v, int i, float best, int at) {
    if (isnan(v)) return !isnan(best) || i < at;
    return !isnan(best) && (v > best || (v == best && i < at));
}

// (v, i) becomes the running best if it beats it
__device__ __forceinline__ void argmax_take(float v, int i, float& best, int& at) {
    if (argmax_better(v, i, best, at)) {
        best = v;
        at = i;
    }
}

__device__ __forceinline__ void argmax_warp(float& best, int& at) {
    for (int o = 16; o > 0; o >>= 1) argmax_take(__shfl_xor_sync(0xffffffffu, best, o), __shfl_xor_sync(0xffffffffu, at, o), best, at);
}

// block b: part b % parts of row b / parts
extern "C" __global__ void __launch_bounds__(ARGMAX_THREADS) argmax_parts(const float* x, int cols, int span, int parts, float* partBest,
                                                                          int* partAt) {
    __shared__ float bests[ARGMAX_THREADS / 32];
    __shared__ int ats[ARGMAX_THREADS / 32];
    pdl_start();
    int row = blockIdx.x / parts, part = blockIdx.x % parts;
    const float* r = x + (long long) row * cols;
    int end = min(cols, (part + 1) * span);
    float best = -INFINITY;
    int at = 0x7fffffff;
    for (int i = part * span + threadIdx.x; i < end; i += ARGMAX_THREADS) argmax_take(r[i], i, best, at);
    argmax_warp(best, at);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) {
        bests[warp] = best;
        ats[warp] = at;
    }
    __syncthreads();
    if (warp == 0) {
        best = lane < ARGMAX_THREADS / 32 ? bests[lane] : -INFINITY;
        at = lane < ARGMAX_THREADS / 32 ? ats[lane] : 0x7fffffff;
        argmax_warp(best, at);
        if (lane == 0) {
            partBest[blockIdx.x] = best;
            partAt[blockIdx.x] = at;
        }
    }
}

// one warp per row
extern "C" __global__ void argmax_merge(const float* partBest, const int* partAt, int parts, int* ids) {
    pdl_start();
    int row = blockIdx.x, lane = threadIdx.x;
    float best = -INFINITY;
    int at = 0x7fffffff;
    for (int p = lane; p < parts; p += 32) argmax_take(partBest[row * parts + p], partAt[row * parts + p], best, at);
    argmax_warp(best, at);
    if (lane == 0) ids[row] = at;
}

extern "C" __global__ void gather_rows(const float* src, const int* rows, float* dst, int count, int cols) {
    pdl_start();
    long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long) count * cols) return;
    int i = t / cols, c = t % cols;
    dst[t] = src[(long long) rows[i] * cols + c];
}
