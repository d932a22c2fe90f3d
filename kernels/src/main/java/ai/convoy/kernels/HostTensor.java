package ai.convoy.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A named tensor in host memory (usually a slice of a memory-mapped checkpoint), little-endian, row-major.
 * Backends turn these into their own weights; nothing here copies the data.
 */
public record HostTensor(String name, DType dtype, long[] shape, MemorySegment data) {

    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public HostTensor {
        long expected = elementCount(shape) * dtype.bytes();
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes for shape "
                    + Arrays.toString(shape) + " of " + dtype + " (expected " + expected + ")");
        }
    }

    public static long elementCount(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public long elementCount() {
        return elementCount(shape);
    }

    public int rank() {
        return shape.length;
    }

    /** Element {@code i} of a floating-point tensor, widened to float. */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.get(FLOAT_LE, i * 4);
            case BF16 -> Float.intBitsToFloat((data.get(SHORT_LE, i * 2) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(data.get(SHORT_LE, i * 2));
            default -> throw new IllegalStateException(name + " is " + dtype + ", not a floating-point tensor");
        };
    }

    /** Elements [from, from + n) of a floating-point tensor widened to floats, into dst[0..n). */
    public void readFloats(long from, float[] dst, int n) {
        switch (dtype) {
            case F32 -> MemorySegment.copy(data, FLOAT_LE, from * 4, dst, 0, n);
            case BF16 -> {
                short[] bits = new short[n];
                MemorySegment.copy(data, SHORT_LE, from * 2, bits, 0, n);
                for (int i = 0; i < n; i++) {
                    dst[i] = Float.intBitsToFloat((bits[i] & 0xffff) << 16);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    dst[i] = Float.float16ToFloat(data.get(SHORT_LE, (from + i) * 2));
                }
            }
            default -> throw new IllegalStateException(name + " is " + dtype + ", not a floating-point tensor");
        }
    }

    /** The whole tensor widened to floats; for small tensors such as norms and biases. */
    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(elementCount())];
        for (int i = 0; i < out.length; i++) {
            out[i] = getFloat(i);
        }
        return out;
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }
}
