// Convoy's CUDA kernels. Activations are float32 [rows, cols] row-major; weights are read as stored. Every kernel has
// a CPU twin in ai.convoy.kernels.cpu.CpuBackend that the GPU tests compare it with.
#include <cstdint>

__device__ __forceinline__ float bf16_to_float(uint16_t v) { return __uint_as_float(((uint32_t) v) << 16); }
__device__ __forceinline__ float f16_to_float(uint16_t v) { return __half2float(*reinterpret_cast<const __half*>(&v)); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// dtype: 0 f32, 1 bf16, 2 f16
__device__ __forceinline__ float load_weight(const void* w, long long i, int dtype) {
    if (dtype == 1) return bf16_to_float(((const uint16_t*) w)[i]);
    if (dtype == 2) return f16_to_float(((const uint16_t*) w)[i]);
    return ((const float*) w)[i];
}

extern "C" __global__ void embed(const void* table, int dtype, const int* ids, float* out, int rows, int cols) {
    int r = blockIdx.x;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        out[(long long) r * cols + c] = load_weight(table, (long long) ids[r] * cols + c, dtype);
}

// one block of 256 threads per row
extern "C" __global__ void rms_norm(const float* x, const float* w, float eps, float* out, int cols) {
    __shared__ float partial[8];
    const float* row = x + (long long) blockIdx.x * cols;
    float s = 0.f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += row[c] * row[c];
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
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[(long long) blockIdx.x * cols + c] = w[c] * (row[c] * inv);
}

// One warp per output feature: the weight row is read once, coalesced, and dotted with every activation row.
// kind: 0 dense (dtype), 1 four-bit (codebook + per-block scales), 2 int8 rows (scales per row)
extern "C" __global__ void matmul(const float* x, const void* w, int kind, int dtype, const float* scales, const float* codebook,
                                  int blocksize, float* out, int rows, int in, int outCols) {
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
            if (kind == 0) {
                wv = load_weight(w, e, dtype);
            } else if (kind == 1) {
                uint8_t b = ((const uint8_t*) w)[e >> 1];
                int code = (e & 1) ? (b & 15) : (b >> 4);
                wv = codebook[code] * scales[e / blocksize];
            } else {
                wv = ((const int8_t*) w)[e] * scales[warp] / 127.f;
            }
            acc += wv * xr[i];
        }
        acc = warp_sum(acc);
        if (lane == 0) out[(long long) r * outCols + warp] = acc;
    }
}

extern "C" __global__ void add_bias(float* x, const float* b, int rows, int cols) {
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < (long long) rows * cols) x[i] += b[i % cols];
}

extern "C" __global__ void add(float* acc, const float* x, long long n) {
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) acc[i] += x[i];
}

extern "C" __global__ void swiglu(const float* gate, const float* up, float* out, long long n) {
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float g = gate[i];
        out[i] = g / (1.f + expf(-g)) * up[i];
    }
}

// rotate-half rotary embedding: one thread per (row, head, pair)
extern "C" __global__ void rope(float* x, int rows, int cols, int heads, int headDim, const int* positions, const float* invFreq) {
    int half = headDim / 2;
    long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long) rows * heads * half) return;
    int i = t % half;
    int h = (t / half) % heads;
    int r = t / ((long long) half * heads);
    float angle = (float) positions[r] * invFreq[i];
    float c = cosf(angle), s = sinf(angle);
    float* p = x + (long long) r * cols + h * headDim;
    float x1 = p[i], x2 = p[i + half];
    p[i] = x1 * c - x2 * s;
    p[i + half] = x2 * c + x1 * s;
}

// keys and values of each row into its slot at its position; kBase/vBase are per-row addresses of the layer's cache
extern "C" __global__ void kv_store(const float* k, const float* v, const unsigned long long* kBase, const unsigned long long* vBase,
                                    const int* positions, int rows, int width) {
    long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long) rows * width) return;
    int r = t / width, c = t % width;
    ((float*) kBase[r])[(long long) positions[r] * width + c] = k[t];
    ((float*) vBase[r])[(long long) positions[r] * width + c] = v[t];
}

// One block per (row, head), a thread per head dimension: an online softmax over the row's visible positions.
extern "C" __global__ void attention(const float* q, const unsigned long long* kBase, const unsigned long long* vBase,
                                     const int* positions, float* out, int heads, int kvHeads, int headDim, float scale, int window) {
    __shared__ float partial[32];
    __shared__ float score;
    int r = blockIdx.x / heads, h = blockIdx.x % heads;
    int d = threadIdx.x;
    int width = kvHeads * headDim;
    int kvOff = (h / (heads / kvHeads)) * headDim;
    int pos = positions[r];
    int first = window > 0 ? max(0, pos - window + 1) : 0;
    const float* keys = (const float*) kBase[r];
    const float* values = (const float*) vBase[r];
    float qd = d < headDim ? q[(long long) r * heads * headDim + h * headDim + d] : 0.f;
    float m = -INFINITY, l = 0.f, acc = 0.f;
    for (int t = first; t <= pos; t++) {
        float s = d < headDim ? qd * keys[(long long) t * width + kvOff + d] : 0.f;
        s = warp_sum(s);
        if ((d & 31) == 0) partial[d >> 5] = s;
        __syncthreads();
        if (d == 0) {
            float total = 0.f;
            for (int w = 0; w < (blockDim.x + 31) / 32; w++) total += partial[w];
            score = total * scale;
        }
        __syncthreads();
        float sc = score;
        float mNew = fmaxf(m, sc);
        float correction = expf(m - mNew);
        float p = expf(sc - mNew);
        float vd = d < headDim ? values[(long long) t * width + kvOff + d] : 0.f;
        acc = acc * correction + p * vd;
        l = l * correction + p;
        m = mNew;
        __syncthreads();
    }
    if (d < headDim) out[(long long) r * heads * headDim + h * headDim + d] = acc / l;
}

extern "C" __global__ void gather_rows(const float* src, const int* rows, float* dst, int count, int cols) {
    long long t = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (long long) count * cols) return;
    int i = t / cols, c = t % cols;
    dst[t] = src[(long long) rows[i] * cols + c];
}

// Decode-sized products, up to 8 activation rows: each lane takes 8 consecutive weights per step (one 32-bit load of
// 4-bit codes, or one 128-bit load of bf16), and each warp computes 4 output features, so an activation chunk loaded
// once serves 4 weight rows and a weight loaded once serves every activation row. Needs in % 8 == 0 (4-bit: blocks
// of at least 8).
#define MAX_ROWS 8
#define FEATURES 4

__device__ __forceinline__ void accumulate(const float* x, int rows, int in, long long col, const float (*wv)[8],
                                           float (*acc)[FEATURES]) {
#pragma unroll
    for (int r = 0; r < MAX_ROWS; r++) {
        if (r < rows) {
            const float4* xr = reinterpret_cast<const float4*>(x + (long long) r * in + col);
            float4 a = xr[0], b = xr[1];
#pragma unroll
            for (int f = 0; f < FEATURES; f++) {
                acc[r][f] += wv[f][0] * a.x + wv[f][1] * a.y + wv[f][2] * a.z + wv[f][3] * a.w + wv[f][4] * b.x + wv[f][5] * b.y
                        + wv[f][6] * b.z + wv[f][7] * b.w;
            }
        }
    }
}

__device__ __forceinline__ void store(float (*acc)[FEATURES], float* out, int rows, int outCols, int first, int lane) {
#pragma unroll
    for (int r = 0; r < MAX_ROWS; r++) {
        if (r < rows) {
#pragma unroll
            for (int f = 0; f < FEATURES; f++) {
                float s = warp_sum(acc[r][f]);
                if (lane == 0 && first + f < outCols) out[(long long) r * outCols + first + f] = s;
            }
        }
    }
}

extern "C" __global__ void matvec_4bit(const float* x, const uint8_t* w, const float* scales, const float* codebook, int blockShift,
                                       float* out, int rows, int in, int outCols) {
    __shared__ float book[16];
    if (threadIdx.x < 16) book[threadIdx.x] = codebook[threadIdx.x];
    __syncthreads();
    int first = ((blockIdx.x * blockDim.x + threadIdx.x) >> 5) * FEATURES;
    int lane = threadIdx.x & 31;
    if (first >= outCols) return;
    float acc[MAX_ROWS][FEATURES] = {};
    for (int c = lane; c < in / 8; c += 32) {
        float wv[FEATURES][8];
#pragma unroll
        for (int f = 0; f < FEATURES; f++) {
            int row = min(first + f, outCols - 1);
            long long e = (long long) row * in + 8LL * c;
            uint32_t packed = reinterpret_cast<const uint32_t*>(w + (e >> 1))[0];
            float s = scales[e >> blockShift];
#pragma unroll
            for (int k = 0; k < 4; k++) {
                uint32_t b = (packed >> (8 * k)) & 0xffu;
                wv[f][2 * k] = book[b >> 4] * s;
                wv[f][2 * k + 1] = book[b & 15u] * s;
            }
        }
        accumulate(x, rows, in, 8LL * c, wv, acc);
    }
    store(acc, out, rows, outCols, first, lane);
}

extern "C" __global__ void matvec_bf16(const float* x, const uint16_t* w, float* out, int rows, int in, int outCols) {
    int first = ((blockIdx.x * blockDim.x + threadIdx.x) >> 5) * FEATURES;
    int lane = threadIdx.x & 31;
    if (first >= outCols) return;
    float acc[MAX_ROWS][FEATURES] = {};
    for (int c = lane; c < in / 8; c += 32) {
        float wv[FEATURES][8];
#pragma unroll
        for (int f = 0; f < FEATURES; f++) {
            int row = min(first + f, outCols - 1);
            uint4 v = reinterpret_cast<const uint4*>(w + (long long) row * in)[c];
            wv[f][0] = __uint_as_float(v.x << 16);
            wv[f][1] = __uint_as_float(v.x & 0xffff0000u);
            wv[f][2] = __uint_as_float(v.y << 16);
            wv[f][3] = __uint_as_float(v.y & 0xffff0000u);
            wv[f][4] = __uint_as_float(v.z << 16);
            wv[f][5] = __uint_as_float(v.z & 0xffff0000u);
            wv[f][6] = __uint_as_float(v.w << 16);
            wv[f][7] = __uint_as_float(v.w & 0xffff0000u);
        }
        accumulate(x, rows, in, 8LL * c, wv, acc);
    }
    store(acc, out, rows, outCols, first, lane);
}
