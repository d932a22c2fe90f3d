// Convoy's CUDA kernels. Activations are float32 [rows, cols] row-major; weights are read as stored. Every kernel has
// a CPU twin in ai.convoy.kernels.cpu.CpuBackend that the GPU tests compare it with.
// One translation unit, one fatbin: each family of kernels is a file of its own, included in this order.
#include "common.cuh"
#include "layers.cuh"
#include "kv_rope.cuh"
#include "attention.cuh"
#include "argmax.cuh"
#include "sample.cuh"
#include "matvec.cuh"
#include "convert.cuh"
#include "matvec_kernels.cuh"
#include "mma.cuh"
