package ai.convoy.actors.cli;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.quant.QuantizationOptions;
import picocli.CommandLine.Option;

/** The settings of 4-bit and 8-bit quantization shared by run and quantize (the method itself is per command). */
final class QuantizationMixin {
    @Option(names = "--blocksize", defaultValue = "64", description = "Values per 4-bit block, a power of two from 32 to 4096 (default: ${DEFAULT-VALUE}).")
    int blocksize;

    @Option(names = "--double-quant", defaultValue = "true", arity = "1", paramLabel = "true|false",
            description = "Quantize the 4-bit block scales too (default: ${DEFAULT-VALUE}).")
    boolean doubleQuant;

    @Option(names = "--compute-dtype", defaultValue = "bf16", paramLabel = "bf16|fp16",
            description = "Compute dtype of 4-bit layers, as bnb_4bit_compute_dtype (default: ${DEFAULT-VALUE}; the CPU computes in float32).")
    String computeDtype;

    @Option(names = "--quantize-lm-head", description = "Quantize lm_head too (by default it stays in the checkpoint's dtype).")
    boolean quantizeLmHead;

    QuantizationOptions options(QuantizationOptions.Method method) {
        QuantizationOptions.ComputeDtype dtype = switch (computeDtype.toLowerCase()) {
            case "bf16", "bfloat16" -> QuantizationOptions.ComputeDtype.BF16;
            case "fp16", "float16" -> QuantizationOptions.ComputeDtype.FP16;
            default -> throw new ConvoyException("--compute-dtype must be bf16 or fp16, got '" + computeDtype + "'");
        };
        try {
            return new QuantizationOptions(method, blocksize, doubleQuant, quantizeLmHead, dtype);
        } catch (IllegalArgumentException e) {
            throw new ConvoyException("--blocksize: " + e.getMessage());
        }
    }
}
