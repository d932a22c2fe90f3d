// Times the decode matrix-vector variants of convoy.cu (rows R, features per block F; add MATVEC_VARIANTS lines there to try others) on the Llama-3-8B shapes,
// checks each against the generic matmul kernel, and prints GB/s of weights read against the device copy bandwidth; the
// "stream" row of each shape only reads its weights, the most a product of that shape could reach; "+pdl" rows launch
// with programmatic dependent launch; the last table times whole decoder layers' products captured in a graph, as a
// decode step runs them. The Llama-3-70B shapes are timed from 8 rows (its batched decode).
// Build: nvcc -O3 -arch=sm_90 -include cuda_fp16.h -o tune-matvec ops/cuda/tune-matvec.cu (ops/cuda/tune-matvec.sh).
#include "../../kernels/src/main/cuda/convoy.cu"
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <vector>
#include <algorithm>
#include <string>
#include <cstring>

#define CHECK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s: %s\n", #x, cudaGetErrorString(e)); exit(1); } } while (0)

// Reads the codes and scales of a four-bit matrix and nothing else, with as many threads as a one-row product: the
// read bandwidth a product of that shape could reach, launch and tail included.
__global__ void __launch_bounds__(MV_THREADS) stream_read(const uint8_t* w, const float4* scales, float* out, int in, int outCols) {
    long long codes = (long long) outCols * in / 32, t = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    long long stride = (long long) gridDim.x * blockDim.x;
    uint32_t v = 0;
    for (long long i = t; i < codes; i += stride) {
        uint4 c = reinterpret_cast<const uint4*>(w)[i];
        v ^= c.x ^ c.y ^ c.z ^ c.w;
        if ((i & 7) == 0) {
            float4 s = scales[i >> 3];
            v ^= __float_as_uint(s.x) ^ __float_as_uint(s.w);
        }
    }
    if (v == 0x12345678u) out[0] = 1.f;
}

// candidates beside the backend's variants (four-bit: the kernels for blocks of 64)
MATVEC_4BIT_KERNEL(1, 2, EPI_STORE, 6, _b64)
MATVEC_4BIT_KERNEL(2, 4, EPI_STORE, 6, _b64)
MATVEC_BF16_KERNEL(1, 4, EPI_STORE, )
MATVEC_BF16_KERNEL(2, 4, EPI_STORE, )
MMA_KERNELS(1, 1, 4)
MMA_KERNELS(1, 2, 8)
MMA_KERNELS(1, 4, 4)
MMA_KERNELS(1, 4, 8)
MMA_KERNELS(2, 4, 4)
MMA_KERNELS(2, 4, 16)
MMA_KERNELS(1, 8, 8)
MMA_KERNELS(2, 8, 8)
MMA_KERNELS(4, 4, 4)

static cudaStream_t st;
// a launch on st, with programmatic dependent launch or without
template <typename K, typename... A>
static void go(bool pdl, K kernel, int grid, int block, A... args) {
    cudaLaunchConfig_t c = {};
    c.gridDim = dim3(grid);
    c.blockDim = dim3(block);
    c.stream = st;
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    c.attrs = at;
    c.numAttrs = pdl ? 1 : 0;
    cudaLaunchKernelEx(&c, kernel, args...);
}

typedef void (*Fourbit)(const float*, const uint8_t*, const float*, const uint8_t*, const float*, const float*, int, float*, int, int, int);
typedef void (*Bf16)(const float*, const uint16_t*, const uint16_t*, float*, int, int, int);

struct Variant { int r, f; Fourbit fourbit; Bf16 bf16; };
typedef void (*Mma)(const __nv_bfloat16*, const uint8_t*, const float*, const float*, int, float*, int, int, int);
struct MmaVariant { int mt, nt, w; Mma k; };
#define M(MT, NT, W) {MT, NT, W, mma_4bit_m##MT##_n##NT##_w##W}
static MmaVariant mmaVariants[] = {M(1, 1, 4), M(1, 1, 8), M(1, 2, 4), M(1, 2, 8), M(1, 4, 4), M(1, 4, 8), M(2, 4, 4), M(2, 4, 8),
                                   M(2, 4, 16), M(4, 4, 4), M(4, 4, 8), M(1, 8, 8), M(2, 8, 4), M(2, 8, 8)};
#define V(R, F) {R, F, matvec_4bit_r##R##_f##F##_b64, matvec_bf16_r##R##_f##F}
static Variant variants[] = {V(1, 2), V(1, 4), V(2, 2), V(2, 4), V(4, 4), V(8, 4)};

static float lcg(uint64_t& s) { s = s * 6364136223846793005ULL + 1442695040888963407ULL; return ((s >> 40) / 16777216.0f) - 0.5f; }

static double median(std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; }

int main() {
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    size_t copyBytes = 1ull << 30;
    void *a, *b;
    CHECK(cudaMalloc(&a, copyBytes));
    CHECK(cudaMalloc(&b, copyBytes));
    cudaEvent_t e0, e1;
    CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    std::vector<double> ct;
    for (int i = 0; i < 9; i++) {
        cudaEventRecord(e0);
        cudaMemcpy(b, a, copyBytes, cudaMemcpyDeviceToDevice);
        cudaEventRecord(e1);
        cudaEventSynchronize(e1);
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        ct.push_back(ms / 1e3);
    }
    double copy = 2.0 * copyBytes / median(ct);
    cudaFree(a);
    cudaFree(b);
    printf("%s, %d SMs, copy bandwidth %.0f GB/s (read + write)\n", prop.name, prop.multiProcessorCount, copy / 1e9);
    printf("%-6s %-12s %-12s %4s %4s %4s %9s %8s %7s %10s\n", "kind", "kernel", "shape", "rows", "R", "F", "us", "GB/s", "of bw", "rel err");
    int shapes[][2] = {{14336, 4096}, {4096, 14336}, {4096, 4096}, {1024, 4096}, {128256, 4096}, {28672, 8192}, {8192, 28672}, {8192, 8192},
                       {1024, 8192}};
    const char* only = getenv("TUNE_ROWS");  // e.g. TUNE_ROWS=1: only one-row products
    const int copies = 8;
    uint64_t seed = 1;
    float book[16];
    for (int i = 0; i < 16; i++) book[i] = lcg(seed) * 2;
    float* dBook;
    CHECK(cudaMalloc(&dBook, sizeof book));
    CHECK(cudaMemcpy(dBook, book, sizeof book, cudaMemcpyHostToDevice));
    for (auto& s : shapes) {
        int out = s[0], in = s[1];
        size_t n = (size_t) out * in;
        int nCopies = n > (1u << 28) ? 2 : copies;  // lm_head: two copies already exceed L2 many times over
        std::vector<uint8_t*> w4(nCopies);
        std::vector<float*> sc(nCopies);
        std::vector<uint16_t*> w16(nCopies);
        uint8_t* original;  // the first copy in bitsandbytes order, for the reference product
        CHECK(cudaMalloc(&original, n / 2));
        std::vector<uint8_t> hw(n / 2);
        std::vector<float> hs(n / 64);
        std::vector<uint16_t> h16(n);
        for (int c = nCopies - 1; c >= 0; c--) {  // downwards, so `original` ends with copy 0
            for (auto& v : hw) v = (uint8_t) (lcg(seed) * 256 + 128);
            for (auto& v : hs) v = lcg(seed) * 0.1f;
            for (auto& v : h16) { float f = lcg(seed) * 0.1f; uint32_t u; memcpy(&u, &f, 4); v = (uint16_t) (u >> 16); }
            CHECK(cudaMalloc(&w4[c], n / 2));
            CHECK(cudaMalloc(&sc[c], n / 64 * 4));
            CHECK(cudaMalloc(&w16[c], n * 2));
            CHECK(cudaMemcpy(original, hw.data(), n / 2, cudaMemcpyHostToDevice));
            long long chunks = n / 32;
            repack_4bit<<<(chunks + 255) / 256, 256>>>(original, w4[c], chunks, in);
            CHECK(cudaDeviceSynchronize());
            CHECK(cudaMemcpy(sc[c], hs.data(), n / 64 * 4, cudaMemcpyHostToDevice));
            CHECK(cudaMemcpy(w16[c], h16.data(), n * 2, cudaMemcpyHostToDevice));
        }
        for (int rows : {1, 2, 4, 8, 16, 32, 64}) {
            if (only && rows != atoi(only)) continue;
            if (rows > 8 && out > 100000) continue;  // batches do not reach the lm_head's shape often enough to tune for
            if (in >= 8192 && rows < 8) continue;
            std::vector<float> hx((size_t) rows * in);
            for (auto& v : hx) v = lcg(seed);
            float *x, *y, *ref;
            __nv_bfloat16* xb;
            CHECK(cudaMalloc(&xb, hx.size() * 2));
            CHECK(cudaMalloc(&x, hx.size() * 4));
            CHECK(cudaMalloc(&y, (size_t) rows * out * 4));
            CHECK(cudaMalloc(&ref, (size_t) rows * out * 4));
            CHECK(cudaMemcpy(x, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice));
            for (int kind = 0; kind < 2; kind++) {
                matmul<<<(32 * out + 255) / 256, 256>>>(x, kind == 0 ? (const void*) original : (const void*) w16[0], kind == 0 ? 1 : 0, 1,
                                                       sc[0], dBook, 64, ref, rows, in, out, 0);
                CHECK(cudaDeviceSynchronize());
                std::vector<float> hr((size_t) rows * out), hy(hr.size());
                CHECK(cudaMemcpy(hr.data(), ref, hr.size() * 4, cudaMemcpyDeviceToHost));
                auto measure = [&](const char* label, int r, int f, auto launch) {
                    CHECK(cudaMemsetAsync(y, 0xff, (size_t) rows * out * 4, st));
                    launch(0);
                    CHECK(cudaStreamSynchronize(st));
                    CHECK(cudaMemcpy(hy.data(), y, hy.size() * 4, cudaMemcpyDeviceToHost));
                    double diff = 0, norm = 0;
                    for (size_t i = 0; i < hy.size(); i++) {
                        diff += (hy[i] - hr[i]) * (double) (hy[i] - hr[i]);
                        norm += hr[i] * (double) hr[i];
                    }
                    double rel = std::isnan(diff) ? INFINITY : sqrt(diff / norm);
                    std::vector<double> t;
                    for (int rep = -2; rep < 9; rep++) {
                        cudaEventRecord(e0, st);
                        for (int i = 0; i < 64; i++) launch(i % nCopies);
                        cudaEventRecord(e1, st);
                        cudaEventSynchronize(e1);
                        float ms;
                        cudaEventElapsedTime(&ms, e0, e1);
                        if (rep >= 0) t.push_back(ms / 1e3 / 64);
                    }
                    CHECK(cudaGetLastError());
                    double sec = median(t);
                    double bytes = kind == 0 ? n / 2 + n / 64 * 4.0 : n * 2.0;
                    printf("%-6s %-12s %-12s %4d %4d %4d %9.1f %8.0f %6.0f%% %10.2e%s\n", kind == 0 ? "nf4" : "bf16", label,
                           (std::to_string(out) + "x" + std::to_string(in)).c_str(), rows, r, f, sec * 1e6, bytes / sec / 1e9,
                           100 * bytes / sec / copy, rel, rel < (label[0] == 'm' && label[1] == 'm' ? 1e-2 : 1e-5) || !strcmp(label, "stream") ? "" : "  WRONG");
                };
                for (auto& v : variants) {
                    if (v.r < rows || (v.r > 1 && v.r / 2 >= rows) || out == 8192 || out == 28672) continue;
                    int blocks = (out + v.f - 1) / v.f;
                    for (bool pdl : {false, true}) {
                        measure(pdl ? "matvec+pdl" : "matvec", v.r, v.f, [&](int c) {
                            if (kind == 0) {
                                go(pdl, v.fourbit, blocks, MV_THREADS, (const float*) x, (const uint8_t*) w4[c], (const float*) sc[c],
                                   (const uint8_t*) w4[c], (const float*) sc[c], (const float*) dBook, 6, y, rows, in, out);
                            } else {
                                go(pdl, v.bf16, blocks, MV_THREADS, (const float*) x, (const uint16_t*) w16[c], (const uint16_t*) w16[c], y, rows, in, out);
                            }
                        });
                    }
                }
                if (kind == 0) {
                    for (auto& v : mmaVariants) {
                        if (8 * v.nt < rows || (v.nt > 1 && 4 * v.nt >= rows)) continue;
                        char label[32];
                        snprintf(label, sizeof label, "mma m%d w%d", v.mt, v.w);
                        measure(label, v.nt * 8, 16 * v.mt, [&](int c) {
                            go(true, to_bf16, (rows * in + 255) / 256, 256, (const float*) x, xb, (long long) rows * in);
                            go(true, v.k, (out + 16 * v.mt - 1) / (16 * v.mt), 32 * v.w, (const __nv_bfloat16*) xb, (const uint8_t*) w4[c],
                               (const float*) sc[c], (const float*) dBook, 6, y, rows, in, out);
                        });
                    }
                }
                if (kind == 0 && rows == 1 && in < 8192) {
                    measure("stream", 1, 2, [&](int c) {
                        go(false, stream_read, (out + 1) / 2, MV_THREADS, (const uint8_t*) w4[c], reinterpret_cast<const float4*>(sc[c]), y, in, out);
                    });
                }
            }
            cudaFree(x);
            cudaFree(xb);
            cudaFree(y);
            cudaFree(ref);
        }
        cudaFree(original);
        for (int c = 0; c < nCopies; c++) {
            cudaFree(w4[c]);
            cudaFree(sc[c]);
            cudaFree(w16[c]);
        }
    }
    // Whole decoder layers at one row (q, k, v, o into the residual, gate/up as one swiglu launch, down into the
    // residual), eight layers of their own weights captured in one graph, as a decode step replays them.
    {
        const int layers = 8, dim = 4096, kvDim = 1024, hidden = 14336;
        int shape[7][2] = {{dim, dim}, {kvDim, dim}, {kvDim, dim}, {dim, dim}, {hidden, dim}, {hidden, dim}, {dim, hidden}};
        std::vector<uint8_t*> lw(layers * 7);
        std::vector<float*> ls(layers * 7);
        double layerBytes = 0;
        for (int l = 0; l < layers; l++) {
            for (int m = 0; m < 7; m++) {
                size_t n = (size_t) shape[m][0] * shape[m][1];
                std::vector<uint8_t> hw(n / 2);
                std::vector<float> hs(n / 64);
                for (auto& v : hw) v = (uint8_t) (lcg(seed) * 256 + 128);
                for (auto& v : hs) v = lcg(seed) * 0.02f;
                CHECK(cudaMalloc(&lw[l * 7 + m], n / 2));
                CHECK(cudaMalloc(&ls[l * 7 + m], n / 16));
                CHECK(cudaMemcpy(lw[l * 7 + m], hw.data(), n / 2, cudaMemcpyHostToDevice));
                CHECK(cudaMemcpy(ls[l * 7 + m], hs.data(), n / 16, cudaMemcpyHostToDevice));
                if (l == 0) layerBytes += n / 2 + n / 16.0;
            }
        }
        float *x, *q, *k, *v, *h, *mid;
        CHECK(cudaMalloc(&x, dim * 4));
        CHECK(cudaMalloc(&q, dim * 4));
        CHECK(cudaMalloc(&k, kvDim * 4));
        CHECK(cudaMalloc(&v, kvDim * 4));
        CHECK(cudaMalloc(&h, dim * 4));
        CHECK(cudaMalloc(&mid, hidden * 4));
        std::vector<float> hx(dim);
        for (auto& e : hx) e = lcg(seed);
        CHECK(cudaMemcpy(x, hx.data(), dim * 4, cudaMemcpyHostToDevice));
        CHECK(cudaMemset(h, 0, dim * 4));
        printf("\ndecoder layers' products at one row, %d layers in a graph (%.1f MB of weights per layer)\n", layers, layerBytes / 1e6);
        printf("%-4s %10s %8s %7s\n", "pdl", "us/layer", "GB/s", "of bw");
        for (bool pdl : {false, true}) {
            Fourbit store = matvec_4bit_r1_f4_b64, add = matvec_4bit_r1_f4_add_b64, swiglu = matvec_4bit_r1_f8_swiglu_b64;
            cudaGraph_t graph;
            CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeRelaxed));
            for (int l = 0; l < layers; l++) {
                uint8_t** W = &lw[l * 7];
                float** S = &ls[l * 7];
                auto mv = [&](Fourbit kern, int m, const float* in, float* o, int features) {
                    go(pdl, kern, (shape[m][0] + features - 1) / features, MV_THREADS, in, (const uint8_t*) W[m], (const float*) S[m],
                       (const uint8_t*) W[m], (const float*) S[m], (const float*) dBook, 6, o, 1, shape[m][1], shape[m][0]);
                };
                mv(store, 0, x, q, 4);
                mv(store, 1, x, k, 4);
                mv(store, 2, x, v, 4);
                mv(add, 3, q, h, 4);
                go(pdl, swiglu, hidden / 4, MV_THREADS, (const float*) x, (const uint8_t*) W[4], (const float*) S[4], (const uint8_t*) W[5],
                   (const float*) S[5], (const float*) dBook, 6, mid, 1, dim, hidden);
                mv(add, 6, mid, h, 4);
            }
            CHECK(cudaStreamEndCapture(st, &graph));
            cudaGraphExec_t exec;
            CHECK(cudaGraphInstantiate(&exec, graph, 0));
            std::vector<double> t;
            for (int rep = -3; rep < 15; rep++) {
                cudaEventRecord(e0, st);
                CHECK(cudaGraphLaunch(exec, st));
                cudaEventRecord(e1, st);
                CHECK(cudaEventSynchronize(e1));
                float ms;
                cudaEventElapsedTime(&ms, e0, e1);
                if (rep >= 0) t.push_back(ms / 1e3 / layers);
            }
            double sec = median(t);
            printf("%-4s %10.1f %8.0f %6.0f%%\n", pdl ? "yes" : "no", sec * 1e6, layerBytes / sec / 1e9,
                   100 * layerBytes / sec / copy);
            cudaGraphExecDestroy(exec);
            cudaGraphDestroy(graph);
        }
    }
    return 0;
}
