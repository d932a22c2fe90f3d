// Embedding rows, the L2 prefetch, RMSNorm, the generic product (any dtype, any shape), biases and SwiGLU.
#pragma once
#include "common.cuh"
// one thread per element
extern "C" __global__ void embed(const void* table, int dtype, const int* ids, float* out, int rows, int cols) {
    pdl_start();
    long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long) rows * cols) return;
    int r = t / cols, c = t % cols;
    out[t] = load_weight(table, (long long) ids[r] * cols + c, dtype);
}

// Asks the L2 for `bytes` from p without waiting or holding registers (sm_90's bulk prefetch; a no-op before). The
// range is widened to 16-byte granules, which the bulk prefetch needs; allocations are 256-byte aligned, so that stays
// within them.
__device__ __forceinline__ void prefetch_l2(const void* p, long long bytes) {
#if __CUDA_ARCH__ >= 900
    uintptr_t start = reinterpret_cast<uintptr_t>(p) & ~uintptr_t(15);
    uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes + 15) & ~uintptr_t(15);
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(start), "r"((unsigned) (end - start)) : "memory");
#endif
}

// One block of up to 1024 threads per row: a decode step has one row, so the block reads it in as few rounds of loads
// as it can (float4 when cols % 4 == 0), rather than looping over it with a few warps.
extern "C" __global__ void rms_norm(const float* x, const float* w, float eps, float* out, int cols) {
    pdl_start();
    __shared__ float partial[32];
    const float* row = x + (long long) blockIdx.x * cols;
    float* o = out + (long long) blockIdx.x * cols;
    bool vector = (cols & 3) == 0;
    float s = 0.f;
    if (vector) {
        for (int c = threadIdx.x; c < cols / 4; c += blockDim.x) {
            float4 v = reinterpret_cast<const float4*>(row)[c];
            s += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
    } else {
        for (int c = threadIdx.x; c < cols; c += blockDim.x) s += row[c] * row[c];
    }
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x < 32) {
        float t = threadIdx.x < (blockDim.x >> 5) ? partial[threadIdx.x] : 0.f;
        t = warp_sum(t);
        if (threadIdx.x == 0) partial[0] = t;
    }
    __syncthreads();
    float inv = rsqrtf(partial[0] / cols + eps);
    if (vector) {
        for (int c = threadIdx.x; c < cols / 4; c += blockDim.x) {
            float4 v = reinterpret_cast<const float4*>(row)[c], g = reinterpret_cast<const float4*>(w)[c];
            reinterpret_cast<float4*>(o)[c] = make_float4(g.x * (v.x * inv), g.y * (v.y * inv), g.z * (v.z * inv), g.w * (v.w * inv));
        }
    } else {
        for (int c = threadIdx.x; c < cols; c += blockDim.x) o[c] = w[c] * (row[c] * inv);
    }
}

// One warp per output feature: the weight row is read once, coalesced, and dotted with every activation row.
// kind: FORMAT_DENSE (of dtype), FORMAT_4BIT or FORMAT_INT8 (constants.cuh)
// accumulate: out += W x instead of out = W x
extern "C" __global__ void matmul(const float* x, const void* w, int kind, int dtype, const float* scales, const float* codebook,
                                  int blocksize, float* out, int rows, int in, int outCols, int accumulate) {
    pdl_start();
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    if (warp >= outCols) return;
    long long base = (long long) warp * in;
    for (int r = 0; r < rows; r++) {
        const float* xr = x + (long long) r * in;
        float acc = 0.f;
        for (int i = lane; i < in; i += 32) {
            float wv;
            long long e = base + i;
            if (kind == FORMAT_DENSE) {
                wv = load_weight(w, e, dtype);
            } else if (kind == FORMAT_4BIT) {
                uint8_t b = ((const uint8_t*) w)[e >> 1];
                int code = (e & 1) ? (b & 15) : (b >> 4);
                wv = codebook[code] * scales[e / blocksize];
            } else {
                wv = ((const int8_t*) w)[e] * scales[warp] / 127.f;
            }
            acc += wv * xr[i];
        }
        acc = warp_sum(acc);
        if (lane == 0) out[(long long) r * outCols + warp] = accumulate ? out[(long long) r * outCols + warp] + acc : acc;
    }
}

extern "C" __global__ void add_bias(float* x, const float* b, int rows, int cols) {
    pdl_start();
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (long long) rows * cols) x[i] += b[i % cols];
}

__device__ __forceinline__ float silu_times(float gate, float up) { return gate / (1.f + expf(-gate)) * up; }

extern "C" __global__ void swiglu(const float* gate, const float* up, float* out, long long n) {
    pdl_start();
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = silu_times(gate[i], up[i]);
}
