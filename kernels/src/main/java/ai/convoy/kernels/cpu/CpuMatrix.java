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

    /**
     * The {@code rows} rows of an input in the order of columns this matrix's products take ({@link #dot},
     * {@link #arrangedRow}): the input itself, unless the weight's layout reads better in another order.
     */
    float[] arranged(float[] x, int rows) {
        return x;
    }

    /** Row {@code row} as products take it: in the order {@link #arranged} gives the input. */
    void arrangedRow(int row, float[] dst) {
        row(row, dst);
    }

    /** Row {@code row} of W dotted with x[xOff .. xOff+cols) of an arranged input; {@code scratch} holds at least cols floats. */
    float dot(int row, float[] x, int xOff, float[] scratch) {
        arrangedRow(row, scratch);
        return VectorMath.dot(scratch, 0, x, xOff, cols());
    }
}
