package ai.convoy.kernels;

import java.lang.foreign.MemorySegment;

/**
 * A 4-bit blockwise-quantized weight (NF4 or FP4): the row-major flattened values in blocks of {@code blocksize},
 * two codes a byte (element 2j in the high nibble), each block scaled by its absmax: value = codebook[code] * scale.
 */
public record FourBitWeight(String name, int rows, int cols, int blocksize, float[] codebook, MemorySegment packed,
                            BlockScales scales) implements QuantizedWeight {

    public FourBitWeight {
        long elements = (long) rows * cols;
        if (packed.byteSize() != (elements + 1) / 2) {
            throw new IllegalArgumentException(name + ": " + packed.byteSize() + " packed bytes for " + elements + " values");
        }
        long blocks = (elements + blocksize - 1) / blocksize;
        if (scales.blocks() != blocks) {
            throw new IllegalArgumentException(name + ": " + scales.blocks() + " block scales for " + blocks + " blocks");
        }
        if (codebook.length != 16) {
            throw new IllegalArgumentException(name + ": a 4-bit codebook has 16 values, not " + codebook.length);
        }
    }

    @Override
    public long bytes() {
        return packed.byteSize() + scales.bytes();
    }

    /** Element {@code i} of the flattened weight. */
    public float get(long i) {
        int b = packed.get(java.lang.foreign.ValueLayout.JAVA_BYTE, i >>> 1) & 0xff;
        int code = (i & 1) == 0 ? b >>> 4 : b & 0xf;
        return codebook[code] * scales.scale(i / blocksize);
    }
}
