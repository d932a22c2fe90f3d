package ai.convoy.kernels.cpu;

import ai.convoy.kernels.WeightMatrix;

/** A weight the CPU backend multiplies by: it yields its rows as floats, dense or dequantized. */
abstract sealed class CpuMatrix implements WeightMatrix permits DenseCpuMatrix, FourBitCpuMatrix, Int8CpuMatrix {
    private final int rows;
    private final int cols;
    private final long bytes;

    CpuMatrix(int rows, int cols, long bytes) {
        this.rows = rows;
        this.cols = cols;
        this.bytes = bytes;
    }

    @Override
    public final int rows() {
        return rows;
    }

    @Override
    public final int cols() {
        return cols;
    }

    @Override
    public final long bytes() {
        return bytes;
    }

    /** Row {@code row} widened or dequantized into dst[0..cols). */
    abstract void row(int row, float[] dst);

    /** Row {@code row} of W dotted with x[xOff .. xOff+cols); {@code scratch} holds at least cols floats. */
    float dot(int row, float[] x, int xOff, float[] scratch) {
        row(row, scratch);
        return VectorMath.dot(scratch, 0, x, xOff, cols());
    }
}
