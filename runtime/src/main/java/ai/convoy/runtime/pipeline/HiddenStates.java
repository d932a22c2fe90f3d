package ai.convoy.runtime.pipeline;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Hidden states passed from one pipeline stage to the next: [rows, cols] float32. {@link #toBytes()} and
 * {@link #fromBytes(byte[])} are the wire form, so the protocol holds nothing that only works inside one JVM.
 */
public record HiddenStates(int rows, int cols, float[] data) {
    public HiddenStates {
        if (data.length != rows * cols) {
            throw new IllegalArgumentException(data.length + " values for [" + rows + ", " + cols + "]");
        }
    }

    public byte[] toBytes() {
        ByteBuffer b = ByteBuffer.allocate(8 + 4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(rows).putInt(cols);
        b.asFloatBuffer().put(data);
        return b.array();
    }

    public static HiddenStates fromBytes(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int rows = b.getInt();
        int cols = b.getInt();
        if (rows < 0 || cols < 0 || (long) rows * cols * 4 != bytes.length - 8) {
            throw new IllegalArgumentException("hidden states of " + bytes.length + " bytes do not hold [" + rows + ", " + cols + "]");
        }
        float[] data = new float[rows * cols];
        b.position(8);
        b.asFloatBuffer().get(data);
        return new HiddenStates(rows, cols, data);
    }
}
