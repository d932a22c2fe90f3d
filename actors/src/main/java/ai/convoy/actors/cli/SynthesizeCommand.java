package ai.convoy.actors.cli;

import ai.convoy.runtime.model.ModelShapes;
import ai.convoy.runtime.model.SyntheticCheckpoint;
import ai.convoy.runtime.plan.Devices;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "synthesize", mixinStandardHelpOptions = true,
        description = "Writes a random-weight bf16 checkpoint of a known model's shape, for measuring memory and speed.")
final class SynthesizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--shape", required = true, paramLabel = "NAME", description = "One of: ${COMPLETION-CANDIDATES}.",
            completionCandidates = ShapeNames.class)
    String shape;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to write.")
    Path out;

    @Option(names = "--seed", defaultValue = "0", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--max-shard-size", defaultValue = "5GB", paramLabel = "SIZE", description = "Largest shard file (default: ${DEFAULT-VALUE}).")
    String maxShardSize;

    @Mixin
    VerboseOption verbose;

    static final class ShapeNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return ModelShapes.names().iterator();
        }
    }

    @Override
    public Integer call() {
        var config = ModelShapes.configJson(shape);
        long start = System.nanoTime();
        try (ProgressBar bar = new ProgressBarBuilder().setTaskName("synthesize " + shape).setUnit(" MiB", 1 << 20)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).showSpeed().build()) {
            SyntheticCheckpoint.write(config, out, seed, Devices.parseSize("--max-shard-size", maxShardSize), p -> {
                bar.maxHint(p[1]);
                bar.stepTo(p[0]);
            });
        }
        spec.commandLine().getOut().printf("wrote %s (%s, random bf16 weights) in %.1f s%n", out, shape, (System.nanoTime() - start) / 1e9);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
