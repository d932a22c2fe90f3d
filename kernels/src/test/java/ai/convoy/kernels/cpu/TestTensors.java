package ai.convoy.kernels.cpu;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.Backend;
import ai.convoy.kernels.BlockScales;
import ai.convoy.kernels.DType;
import ai.convoy.kernels.FourBitWeight;
import ai.convoy.kernels.HostTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/** Random weights in each stored dtype, and random activations, for the kernel tests. */
public final class TestTensors {
    private TestTensors() {
    }

    /**
     * A random source for a test class: seeded from -Dconvoy.test.seed when given, else from the clock, and the seed
     * printed so that a failure can be run again with it.
     */
    public static SplittableRandom seeded(Class<?> test) {
        long seed = Long.getLong("convoy.test.seed", System.nanoTime());
        System.out.println(test.getSimpleName() + ": random seed " + seed + " (run again with -Dconvoy.test.seed=" + seed + ")");
        return new SplittableRandom(seed);
    }

    public static HostTensor random(DType dtype, SplittableRandom random, long... shape) {
        long n = HostTensor.elementCount(shape);
        MemorySegment data = Arena.ofAuto().allocate(n * dtype.bytes(), 8);
        for (long i = 0; i < n; i++) {
            float v = (float) random.nextGaussian();
            switch (dtype) {
                case F32 -> data.set(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 4 * i, v);
                case F16 -> data.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2 * i, Float.floatToFloat16(v));
                case BF16 -> data.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2 * i,
                        (short) (Float.floatToIntBits(v) >>> 16));
                default -> throw new IllegalArgumentException(dtype.name());
            }
        }
        return new HostTensor("w", dtype, shape, data);
    }

    public static float[] floats(SplittableRandom random, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) random.nextGaussian();
        }
        return out;
    }

    /** Activations of {@code rows x cols} on {@code backend}, holding {@code values} (row-major). */
    /** Rotary inverse frequencies theta^(-2i / headDim), i < headDim / 2. */
    public static float[] ropeFrequencies(int headDim, double theta) {
        float[] f = new float[headDim / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) Math.pow(theta, -2.0 * i / headDim);
        }
        return f;
    }

    public static Activations filled(Backend backend, int rows, int cols, float[] values) {
        Activations a = backend.activations(rows, cols);
        backend.write(a, values);
        return a;
    }

    /** All rows of {@code a}, read back row-major. */
    public static float[] read(Backend backend, Activations a) {
        float[] out = new float[a.rows() * a.cols()];
        backend.read(a, out);
        return out;
    }

    /** A four-bit weight of random codes, codebook and block scales (plain, or nested as double quantization makes them). */
    public static FourBitWeight fourBit(SplittableRandom random, int rows, int cols, int blocksize, boolean nested) {
        long n = (long) rows * cols;
        byte[] packed = new byte[(int) ((n + 1) / 2)];
        for (int i = 0; i < packed.length; i++) {
            packed[i] = (byte) random.nextInt(256);
        }
        int blocks = (int) ((n + blocksize - 1) / blocksize);
        float[] codebook = floats(random, 16);
        BlockScales scales;
        if (nested) {
            byte[] codes = new byte[blocks];
            for (int i = 0; i < blocks; i++) {
                codes[i] = (byte) random.nextInt(256);
            }
            scales = new BlockScales.Nested(MemorySegment.ofArray(codes), floats(random, 256),
                    floats(random, (blocks + 255) / 256), 256, 0.3f);
        } else {
            scales = new BlockScales.Plain(floats(random, blocks));
        }
        return new FourBitWeight("w", rows, cols, blocksize, codebook, MemorySegment.ofArray(packed), scales);
    }
}
