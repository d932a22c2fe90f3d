package ai.convoy.runtime.quant;

/**
 * The two 4-bit data types of bitsandbytes: their 16 values (the {@code quant_map} of a checkpoint) and the rounding
 * of a value in [-1, 1] to a code, with bitsandbytes' thresholds: values above a midpoint go up, ties go down, and
 * NaN (from an all-zero block) gives code 0.
 */
public enum FourBitCode {
    NF4("nf4") {
        @Override
        public int encode(float x) {
            int code = 0;
            for (float t : NF4_THRESHOLDS) {
                if (x > t) {
                    code++;
                }
            }
            return code;
        }
    },
    FP4("fp4") {
        @Override
        public int encode(float x) {
            int sign = x < 0 ? 0b1000 : 0;
            float magnitude = Math.abs(x);
            int index = 0;
            for (float t : FP4_THRESHOLDS) {
                if (magnitude > t) {
                    index++;
                }
            }
            return FP4_MAGNITUDE_CODES[index] + sign;
        }
    };

    private static final double[] NF4_VALUES = {-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
        0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0};
    private static final float[] NF4_THRESHOLDS = new float[15];
    // FP4 (1 sign, 2 exponent, 1 mantissa bits), normalised by its largest magnitude 12
    private static final float[] FP4_RAW = {0f, 0.0625f, 8f, 12f, 4f, 6f, 2f, 3f, -0f, -0.0625f, -8f, -12f, -4f, -6f, -2f, -3f};
    private static final float[] FP4_THRESHOLDS = {0.00260417f, 0.0859375f, 0.20833333f, 0.29166667f, 0.4166667f, 0.583333f, 0.8333333f};
    private static final int[] FP4_MAGNITUDE_CODES = {0b000, 0b001, 0b110, 0b111, 0b100, 0b101, 0b010, 0b011};

    static {
        for (int i = 0; i < 15; i++) {
            NF4_THRESHOLDS[i] = (float) ((NF4_VALUES[i] + NF4_VALUES[i + 1]) / 2);
        }
    }

    private final String typeName;

    FourBitCode(String typeName) {
        this.typeName = typeName;
    }

    /** The name bitsandbytes and transformers use: "nf4" or "fp4". */
    public String typeName() {
        return typeName;
    }

    public static FourBitCode ofTypeName(String name) {
        for (FourBitCode c : values()) {
            if (c.typeName.equals(name)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown 4-bit type '" + name + "' (known: nf4, fp4)");
    }

    /** The 16 values, as float32, in code order. */
    public float[] codebook() {
        float[] v = new float[16];
        for (int i = 0; i < 16; i++) {
            v[i] = this == NF4 ? (float) NF4_VALUES[i] : FP4_RAW[i] / 12f;
        }
        return v;
    }

    /** The code nearest to {@code x}, a value already divided by its block's absmax. */
    public abstract int encode(float x);
}
