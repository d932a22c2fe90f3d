package ai.convoy.runtime.quant;

import java.util.Locale;

/**
 * How to quantize a full-precision checkpoint, as transformers' BitsAndBytesConfig says it: the method, the
 * blocksize and double quantization of 4-bit weights, whether lm_head is quantized too, and the compute dtype
 * ({@code bnb_4bit_compute_dtype}) recorded for backends that compute in 16 bits.
 */
public record QuantizationOptions(Method method, int blocksize, boolean doubleQuant, boolean quantizeLmHead,
                                  ComputeDtype computeDtype) {

    public enum Method {
        NONE, NF4, FP4, INT8;

        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public FourBitCode fourBitCode() {
            return switch (this) {
                case NF4 -> FourBitCode.NF4;
                case FP4 -> FourBitCode.FP4;
                default -> throw new IllegalStateException(this + " is not a 4-bit method");
            };
        }

        public boolean fourBit() {
            return this == NF4 || this == FP4;
        }
    }

    public enum ComputeDtype {
        BF16("bfloat16"), FP16("float16");

        private final String torchName;

        ComputeDtype(String torchName) {
            this.torchName = torchName;
        }

        public String torchName() {
            return torchName;
        }
    }

    public static final int DEFAULT_BLOCKSIZE = 64;
    public static final QuantizationOptions NONE = new QuantizationOptions(Method.NONE, DEFAULT_BLOCKSIZE, true, false, ComputeDtype.BF16);

    public QuantizationOptions {
        if (method.fourBit()) {
            Quantizer.checkBlocksize(blocksize);
        }
    }

    public static QuantizationOptions of(Method method) {
        return new QuantizationOptions(method, DEFAULT_BLOCKSIZE, true, false, ComputeDtype.BF16);
    }

    public QuantizationOptions withMethod(Method other) {
        return new QuantizationOptions(other, blocksize, doubleQuant, quantizeLmHead, computeDtype);
    }

    public String describe() {
        return switch (method) {
            case NONE -> "unquantized";
            case INT8 -> "int8 (row-wise)";
            default -> method.cliName() + " (blocksize " + blocksize + (doubleQuant ? ", double quantization" : "") + ")";
        } + (quantizeLmHead && method != Method.NONE ? ", lm_head too" : "");
    }
}
