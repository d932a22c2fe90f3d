package ai.convoy.kernels;

import java.lang.foreign.MemorySegment;

/** LLM.int8 row-wise layout: int8 values and a float32 absmax per row (SCB): value = q * scb[row] / 127. */
public record Int8Weight(String name, int rows, int cols, MemorySegment data, float[] rowScales) implements QuantizedWeight {
    public Int8Weight {
        if (data.byteSize() != (long) rows * cols || rowScales.length != rows) {
            throw new IllegalArgumentException(name + ": int8 data of " + data.byteSize() + " bytes and " + rowScales.length
                    + " row scales for shape [" + rows + ", " + cols + "]");
        }
    }

    @Override
    public long bytes() {
        return data.byteSize() + 4L * rowScales.length;
    }
}
