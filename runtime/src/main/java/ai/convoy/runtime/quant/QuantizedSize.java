package ai.convoy.runtime.quant;

/** Bytes a weight takes once quantized, as the loader holds it (data, scales and maps; not the quant_state JSON). */
public final class QuantizedSize {
    private QuantizedSize() {
    }

    public static long bytes(QuantizationOptions.Method method, long rows, long cols, int blocksize, boolean doubleQuant, int storedBytesPerValue) {
        long n = rows * cols;
        return switch (method) {
            case NONE -> n * storedBytesPerValue;
            case INT8 -> n + 4 * rows;
            case NF4, FP4 -> {
                long blocks = (n + blocksize - 1) / blocksize;
                long scales = doubleQuant
                        ? blocks + 4 * ((blocks + Quantizer.NESTED_BLOCKSIZE - 1) / Quantizer.NESTED_BLOCKSIZE) + 4 * 256 + 4
                        : 4 * blocks;
                yield (n + 1) / 2 + scales;
            }
        };
    }
}
