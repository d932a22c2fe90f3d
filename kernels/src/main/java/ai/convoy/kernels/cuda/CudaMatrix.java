package ai.convoy.kernels.cuda;

import ai.convoy.kernels.DType;
import ai.convoy.kernels.WeightMatrix;
import jcuda.driver.CUdeviceptr;

/** A weight matrix in GPU memory, one record per storage format. */
sealed interface CudaMatrix extends WeightMatrix permits CudaMatrix.Dense, CudaMatrix.FourBit, CudaMatrix.Int8 {
    /** The null pointer of an argument a format does not use. */
    CUdeviceptr NONE = new CUdeviceptr();

    CUdeviceptr data();

    /** The generic product's arguments for the weight (matmul of layers.cuh): data, format, dtype, scales, codebook, block size. */
    Object[] genericArgs();

    /** bf16, f16 or f32 values as stored. */
    record Dense(int rows, int cols, long bytes, DType dtype, CUdeviceptr data) implements CudaMatrix {
        /** The dtype's code in the kernels (DTYPE_* of constants.cuh). */
        int dtypeCode() {
            return codeOf(dtype);
        }

        /** The code of a dtype the kernels read; refuses any other. */
        static int codeOf(DType dtype) {
            return KernelConstants.value("DTYPE_" + switch (dtype) {
                case F32, BF16, F16 -> dtype.name();
                default -> throw new IllegalArgumentException(dtype + " weights are not supported by the CUDA backend");
            });
        }

        /** Whether the bf16 decode kernels take it: bf16 rows of whole 16-byte loads. */
        boolean bf16Rows() {
            return dtype == DType.BF16 && cols % 8 == 0;
        }

        @Override
        public Object[] genericArgs() {
            return new Object[] {data, KernelConstants.value("FORMAT_DENSE"), dtypeCode(), NONE, NONE, 1};
        }
    }

    /**
     * Four-bit codes with a scale per block of {@code blocksize} and a 16-value codebook; {@code tiled}: repacked in
     * tiles of TILE_4BIT weights for the decode and tensor-core kernels, else in the checkpoint's order.
     */
    record FourBit(int rows, int cols, long bytes, CUdeviceptr data, CUdeviceptr scales, CUdeviceptr codebook, int blocksize, boolean tiled)
            implements CudaMatrix {
        int blockShift() {
            return Integer.numberOfTrailingZeros(blocksize);
        }

        /** Same codebook, block size and input width: products of one input that can share a launch. */
        boolean sharesLaunchWith(FourBit other) {
            return tiled && other.tiled && cols == other.cols && blocksize == other.blocksize && DevicePointers.address(codebook) == DevicePointers.address(other.codebook);
        }

        @Override
        public Object[] genericArgs() {
            return new Object[] {data, KernelConstants.value("FORMAT_4BIT"), 0, scales, codebook, blocksize};
        }
    }

    /** int8 rows with a scale per row. */
    record Int8(int rows, int cols, long bytes, CUdeviceptr data, CUdeviceptr scales) implements CudaMatrix {
        @Override
        public Object[] genericArgs() {
            return new Object[] {data, KernelConstants.value("FORMAT_INT8"), 0, scales, NONE, 1};
        }
    }
}
