package ai.convoy.runtime.quant;

import ai.convoy.kernels.BlockScales;
import ai.convoy.kernels.FourBitWeight;
import ai.convoy.kernels.HostTensor;
import ai.convoy.kernels.Int8Weight;
import java.lang.foreign.MemorySegment;
import java.util.Optional;
import java.util.stream.IntStream;

/** Quantizes weights as bitsandbytes does, on every core; the inputs are F32, F16 or BF16 host tensors. */
public final class Quantizer {
    public static final int NESTED_BLOCKSIZE = 256;
    private static final int BLOCKS_PER_TASK = 1024;

    private Quantizer() {
    }

    /** A 4-bit weight and the quant_state that describes it. */
    public record FourBit(FourBitWeight weight, QuantState state) {
    }

    public static void checkBlocksize(int blocksize) {
        if (blocksize < 32 || blocksize > 4096 || Integer.bitCount(blocksize) != 1) {
            throw new IllegalArgumentException("blocksize must be a power of two from 32 to 4096, got " + blocksize);
        }
    }

    public static FourBit fourBit(HostTensor w, FourBitCode code, int blocksize, boolean doubleQuant) {
        checkBlocksize(blocksize);
        if (w.rank() != 2) {
            throw new IllegalArgumentException(w + " is not a matrix");
        }
        long n = w.elementCount();
        int blocks = Math.toIntExact((n + blocksize - 1) / blocksize);
        byte[] packed = new byte[Math.toIntExact((n + 1) / 2)];
        float[] absmax = new float[blocks];
        IntStream.range(0, (blocks + BLOCKS_PER_TASK - 1) / BLOCKS_PER_TASK).parallel().forEach(task -> {
            float[] values = new float[blocksize + 1];
            int last = Math.min(blocks, (task + 1) * BLOCKS_PER_TASK);
            for (int b = task * BLOCKS_PER_TASK; b < last; b++) {
                absmax[b] = quantizeBlock(w, code, blocksize, b, values, packed);
            }
        });
        int rows = Math.toIntExact(w.shape()[0]);
        int cols = Math.toIntExact(w.shape()[1]);
        String dtype = torchName(w);
        if (!doubleQuant) {
            return new FourBit(new FourBitWeight(w.name(), rows, cols, blocksize, code.codebook(), MemorySegment.ofArray(packed),
                    new BlockScales.Plain(absmax)), new QuantState(code, blocksize, dtype, w.shape(), Optional.empty()));
        }
        BlockScales.Nested nested = quantizeAbsmax(absmax);
        return new FourBit(new FourBitWeight(w.name(), rows, cols, blocksize, code.codebook(), MemorySegment.ofArray(packed), nested),
                new QuantState(code, blocksize, dtype, w.shape(),
                        Optional.of(new QuantState.Nested(NESTED_BLOCKSIZE, "float32", nested.offset()))));
    }

    /** Quantizes block {@code b} into its bytes of {@code packed} and returns its absmax. */
    private static float quantizeBlock(HostTensor w, FourBitCode code, int blocksize, int b, float[] values, byte[] packed) {
        long n = w.elementCount();
        long start = (long) b * blocksize;
        int count = (int) Math.min(blocksize, n - start);
        w.readFloats(start, values, count);
        float max = 0f;
        for (int i = 0; i < count; i++) {
            max = Math.max(max, Math.abs(values[i]));
        }
        // bitsandbytes multiplies by a float32 reciprocal; missing elements of a partial block are zeros
        float inverse = 1f / max;
        values[count] = 0f;
        for (int i = 0; i < count; i += 2) {
            int hi = code.encode(values[i] * inverse);
            int lo = code.encode(values[i + 1] * inverse);
            packed[(int) ((start + i) >>> 1)] = (byte) (hi << 4 | lo);
        }
        return max;
    }

    /**
     * Double quantization: the absmax values less their mean, quantized blockwise (256) to 8 bits with the signed
     * dynamic map. The mean is accumulated in float64 and kept as float32.
     */
    static BlockScales.Nested quantizeAbsmax(float[] absmax) {
        double sum = 0;
        for (float a : absmax) {
            sum += a;
        }
        float offset = (float) (sum / absmax.length);
        float[] map = DynamicMap.signed();
        int nestedBlocks = (absmax.length + NESTED_BLOCKSIZE - 1) / NESTED_BLOCKSIZE;
        float[] nestedAbsmax = new float[nestedBlocks];
        byte[] codes = new byte[absmax.length];
        for (int nb = 0; nb < nestedBlocks; nb++) {
            int from = nb * NESTED_BLOCKSIZE;
            int to = Math.min(absmax.length, from + NESTED_BLOCKSIZE);
            float max = 0f;
            for (int i = from; i < to; i++) {
                max = Math.max(max, Math.abs(absmax[i] - offset));
            }
            nestedAbsmax[nb] = max;
            float inverse = 1f / max;
            for (int i = from; i < to; i++) {
                codes[i] = (byte) DynamicMap.encode(map, (absmax[i] - offset) * inverse);
            }
        }
        return new BlockScales.Nested(MemorySegment.ofArray(codes), map, nestedAbsmax, NESTED_BLOCKSIZE, offset);
    }

    /** LLM.int8 row-wise: SCB = max |row|, q = round-half-even(x * float32(127 / SCB)). */
    public static Int8Weight int8(HostTensor w) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException(w + " is not a matrix");
        }
        int rows = Math.toIntExact(w.shape()[0]);
        int cols = Math.toIntExact(w.shape()[1]);
        byte[] q = new byte[Math.multiplyExact(rows, cols)];
        float[] scb = new float[rows];
        IntStream.range(0, rows).parallel().forEach(r -> {
            float[] row = new float[cols];
            w.readFloats((long) r * cols, row, cols);
            float max = 0f;
            for (float v : row) {
                max = Math.max(max, Math.abs(v));
            }
            scb[r] = max;
            float scale = 127f / max;
            for (int c = 0; c < cols; c++) {
                q[r * cols + c] = (byte) (int) Math.rint(row[c] * scale);
            }
        });
        return new Int8Weight(w.name(), rows, cols, MemorySegment.ofArray(q), scb);
    }

    /** torch's name of a tensor's dtype, as quant_state records the original dtype. */
    public static String torchName(HostTensor w) {
        return switch (w.dtype()) {
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            case F32 -> "float32";
            default -> throw new IllegalArgumentException(w + ": only F32, F16 and BF16 weights are quantized");
        };
    }
}
