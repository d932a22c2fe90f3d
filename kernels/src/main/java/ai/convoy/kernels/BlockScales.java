package ai.convoy.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** The absmax of each block of a 4-bit weight: stored as float32, or itself quantized (double quantization). */
public sealed interface BlockScales permits BlockScales.Plain, BlockScales.Nested {

    float scale(long block);

    long blocks();

    long bytes();

    record Plain(float[] absmax) implements BlockScales {
        @Override
        public float scale(long block) {
            return absmax[(int) block];
        }

        @Override
        public long blocks() {
            return absmax.length;
        }

        @Override
        public long bytes() {
            return 4L * absmax.length;
        }
    }

    /**
     * absmax[b] = map[codes[b]] * nestedAbsmax[b / nestedBlocksize] + offset, in float32 as bitsandbytes
     * dequantizes it.
     */
    record Nested(MemorySegment codes, float[] map, float[] nestedAbsmax, int nestedBlocksize, float offset) implements BlockScales {
        public Nested {
            if (map.length != 256) {
                throw new IllegalArgumentException("an 8-bit map has 256 values, not " + map.length);
            }
            if ((codes.byteSize() + nestedBlocksize - 1) / nestedBlocksize != nestedAbsmax.length) {
                throw new IllegalArgumentException(nestedAbsmax.length + " nested absmax values for " + codes.byteSize()
                        + " codes in blocks of " + nestedBlocksize);
            }
        }

        @Override
        public float scale(long block) {
            int code = codes.get(ValueLayout.JAVA_BYTE, block) & 0xff;
            return map[code] * nestedAbsmax[(int) (block / nestedBlocksize)] + offset;
        }

        @Override
        public long blocks() {
            return codes.byteSize();
        }

        @Override
        public long bytes() {
            return codes.byteSize() + 4L * (map.length + nestedAbsmax.length) + 4;
        }
    }
}
