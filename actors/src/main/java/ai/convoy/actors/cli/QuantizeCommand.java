package ai.convoy.actors.cli;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.plan.Devices;
import ai.convoy.runtime.quant.CheckpointQuantizer;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "quantize", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Writes a model again in the Hugging Face bitsandbytes layout (NF4, FP4 or INT8), which Convoy and transformers load as it is.")
final class QuantizeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "IN", description = "Full-precision model directory (F32, F16 or BF16).")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "OUT", description = "New or empty directory for the quantized model.")
    Path out;

    @Option(names = "--quantization", defaultValue = "nf4", paramLabel = "nf4|fp4|int8", description = "Quantization (default: ${DEFAULT-VALUE}).")
    String quantization;

    @Mixin
    QuantizationMixin settings;

    @Option(names = "--max-shard-size", defaultValue = "5GB", paramLabel = "SIZE", description = "Largest shard file (default: ${DEFAULT-VALUE}).")
    String maxShardSize;

    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() {
        QuantizationOptions.Method method = Methods.parse("--quantization", quantization);
        if (method == QuantizationOptions.Method.NONE) {
            throw new ConvoyException("--quantization must be nf4, fp4 or int8 for convoy quantize");
        }
        QuantizationOptions options = settings.options(method);
        PrintWriter err = spec.commandLine().getErr();
        long start = System.nanoTime();
        CheckpointQuantizer.Summary summary;
        try (ProgressBar bar = new ProgressBarBuilder().setTaskName("quantize " + method.cliName()).setUnit(" MiB", 1 << 20)
                .setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(200).showSpeed().build()) {
            summary = CheckpointQuantizer.quantize(model, out, options, Devices.parseSize("--max-shard-size", maxShardSize), p -> {
                bar.maxHint(p.totalBytes());
                bar.stepTo(p.doneBytes());
                bar.setExtraMessage(" " + p.tensor());
            });
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        long peak = Units.peakResidentBytes();
        spec.commandLine().getOut().printf("wrote %s: %d weights quantized to %s, %s -> %s, in %.1f s%s%n", out, summary.quantizedTensors(),
                options.describe(), Units.bytes(summary.sourceBytes()), Units.bytes(summary.writtenBytes()), seconds,
                peak < 0 ? "" : ", peak resident memory " + Units.bytes(peak));
        spec.commandLine().getOut().flush();
        err.flush();
        return 0;
    }
}
