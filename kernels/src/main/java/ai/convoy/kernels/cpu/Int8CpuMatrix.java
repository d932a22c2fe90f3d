package ai.convoy.kernels.cpu;

import ai.convoy.kernels.Int8Weight;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** An LLM.int8 row-wise weight, dequantized a row at a time: q * SCB[row] / 127. */
final class Int8CpuMatrix extends CpuMatrix {
    private final Int8Weight w;
    private final ThreadLocal<byte[]> bytes;

    Int8CpuMatrix(Int8Weight w) {
        super(w.rows(), w.cols(), w.bytes());
        this.w = w;
        this.bytes = ThreadLocal.withInitial(() -> new byte[w.cols()]);
    }

    @Override
    void row(int row, float[] dst) {
        byte[] q = bytes.get();
        int cols = w.cols();
        MemorySegment.copy(w.data(), ValueLayout.JAVA_BYTE, (long) row * cols, q, 0, cols);
        float scale = w.rowScales()[row];
        for (int i = 0; i < cols; i++) {
            dst[i] = q[i] * scale / 127f;
        }
    }
}
