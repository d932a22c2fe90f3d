package ai.convoy.actors.cli;

import ai.convoy.runtime.quant.QuantizationOptions;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** How full-precision linear weights are quantized while a model loads, for the commands that load one to run it. */
final class LoadQuantization {
    @Option(names = "--quantization", defaultValue = "none", paramLabel = "none|nf4|fp4|int8",
            description = "Quantize full-precision linear weights while loading (default: ${DEFAULT-VALUE}); a bitsandbytes checkpoint runs as stored.")
    String quantization;

    @Mixin
    QuantizationMixin settings;

    QuantizationOptions options() {
        return settings.options(Methods.parse("--quantization", quantization));
    }
}
