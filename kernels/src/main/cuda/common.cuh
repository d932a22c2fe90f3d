// Shared by every kernel family: headers, bf16/f16 conversions, warp reductions, programmatic dependent launch,
// weight loads by dtype.
#pragma once
#include <cstdint>
#include <cuda_bf16.h>
#include "constants.cuh"

// bf16 as float: the low half of a 32-bit word (or a lone 16-bit value), the high half
__device__ __forceinline__ float bf16_low(uint32_t w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_high(uint32_t w) { return __uint_as_float(w & 0xffff0000u); }
// the eight bf16 of a 128-bit load as floats, in order
__device__ __forceinline__ void to_floats8(uint4 v, float* o) {
    uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        o[2 * i] = bf16_low(words[i]);
        o[2 * i + 1] = bf16_high(words[i]);
    }
}
__device__ __forceinline__ float f16_to_float(uint16_t v) { return __half2float(*reinterpret_cast<const __half*>(&v)); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Programmatic dependent launch (sm_90 and newer; no-ops elsewhere and when launched without it). A kernel launched
// with it may start while the kernel before it in the stream still runs: until pdl_wait returns it reads nothing that
// kernel writes and writes nothing at all, so it may only load weights, what the host uploaded before the step's first
// kernel that reads it (positions), and build tables. Every kernel lets the next one start at once (pdl_launch_next):
// its blocks then wait on the GPU, ready, instead of being launched after this kernel's tail.
__device__ __forceinline__ void pdl_wait() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_launch_next() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// the start of a kernel that reads only what earlier kernels wrote
__device__ __forceinline__ void pdl_start() {
    pdl_launch_next();
    pdl_wait();
}

// dtype: DTYPE_F32, DTYPE_BF16 or DTYPE_F16
__device__ __forceinline__ float load_weight(const void* w, long long i, int dtype) {
    if (dtype == DTYPE_BF16) return bf16_low(((const uint16_t*) w)[i]);
    if (dtype == DTYPE_F16) return f16_to_float(((const uint16_t*) w)[i]);
    return ((const float*) w)[i];
}
