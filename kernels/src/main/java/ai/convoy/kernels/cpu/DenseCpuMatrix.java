package ai.convoy.kernels.cpu;

import ai.convoy.kernels.DType;
import ai.convoy.kernels.HostTensor;
import java.lang.foreign.MemorySegment;

/** An F32, F16 or BF16 weight read in place from host memory (memory-mapped checkpoints are never copied). */
final class DenseCpuMatrix extends CpuMatrix {
    private final MemorySegment data;
    private final DType dtype;
    private final int cols;
    private final HostTensor source;

    DenseCpuMatrix(HostTensor t) {
        if (t.rank() != 2) {
            throw new IllegalArgumentException(t + " is not a matrix");
        }
        if (!t.dtype().isFloatingPoint()) {
            throw new IllegalArgumentException(t + ": the CPU backend multiplies F32, F16 and BF16 weights only");
        }
        super(Math.toIntExact(t.shape()[0]), Math.toIntExact(t.shape()[1]), t.data().byteSize());
        this.source = t;
        this.data = t.data();
        this.dtype = t.dtype();
        this.cols = cols();
    }

    @Override
    float dot(int row, float[] x, int xOff, float[] scratch) {
        long offset = (long) row * cols * dtype.bytes();
        return switch (dtype) {
            case BF16 -> VectorMath.dotBf16(data, offset, x, xOff, cols);
            case F32 -> VectorMath.dotF32(data, offset, x, xOff, cols);
            default -> {
                float sum = 0f;
                long base = (long) row * cols;
                for (int i = 0; i < cols; i++) {
                    sum += source.getFloat(base + i) * x[xOff + i];
                }
                yield sum;
            }
        };
    }

    @Override
    void row(int row, float[] dst) {
        long base = (long) row * cols;
        if (dtype == DType.BF16) {
            VectorMath.bf16ToFloat(data, base * 2, dst, cols);
        } else {
            for (int i = 0; i < cols; i++) {
                dst[i] = source.getFloat(base + i);
            }
        }
    }
}
