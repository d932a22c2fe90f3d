package ai.convoy.actors.cli;

import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.eval.Perplexity;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.formats.Utf8Text;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.Transformer;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.plan.Plan;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.runtime.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "perplexity", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Perplexity of a text file under the model, with a sliding window.")
final class PerplexityCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--text", required = true, paramLabel = "FILE", description = "UTF-8 text, encoded whole by the model's tokenizer.json with its special tokens.")
    Path text;

    @Option(names = "--context", paramLabel = "N", description = "Tokens a window holds (default: the model's context, at most 2048).")
    Integer context;

    @Option(names = "--stride", paramLabel = "S", description = "Tokens between window starts (default: half the context).")
    Integer stride;

    @Mixin
    LoadQuantization quantization;

    @Mixin
    PlanOptions planOptions;

    @Override
    public Integer call() {
        QuantizationOptions options = quantization.options();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Path dir = modelOptions.directory();
        ModelConfig config = Model.readConfig(dir);
        if (!Tokenizer.existsIn(dir)) {
            throw ConvoyException.in(dir, "no tokenizer.json in the model directory: perplexity encodes the text with it");
        }
        int window = context != null ? context : Math.min(config.maxPositions(), 2048);
        int step = stride != null ? stride : Math.max(1, window / 2);
        int[] ids = Tokenizer.load(dir).encode(Utf8Text.read(text), true);
        Perplexity.validate(ids.length, window, step, config.maxPositions());
        List<PipelineStage> stages = new ArrayList<>();
        long loadStart = System.nanoTime();
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            if (planOptions.given()) {
                Planner.Request asked = planOptions.request(config, options, dir);
                // one window at a time: a plan for one sequence of the window's length
                Planner.Request request = new Planner.Request(asked.model(), asked.devices(), asked.strategy(), 1, window, asked.kvBytesGpu(),
                        asked.manual());
                Plan plan = Planner.plan(request);
                PipelineRuntime.requireDevicesHere(plan);
                PlanPrinter.print(err, plan, request, planOptions.kvDtype);
                for (PipelineRuntime.StageSpec s : PipelineRuntime.stagesOf(plan)) {
                    stages.add(PipelineRuntime.loadStage(config, checkpoint, s, options,
                            PipelineRuntime.backendFor(s.device(), request.kvBytesGpu())));
                }
            } else {
                stages.add(new PipelineStage(Transformer.load(config, checkpoint, new CpuBackend(), options)));
            }
            err.printf("convoy: loaded %s in %.3f s (%s); %d tokens, windows of %d every %d%n", dir,
                    (System.nanoTime() - loadStart) / 1e9, options.method() == QuantizationOptions.Method.NONE ? "unquantized"
                            : options.describe(), ids.length, window, step);
            err.flush();
            Perplexity.Result result;
            try (ProgressBar bar = new ProgressBarBuilder().setTaskName("perplexity").setUnit(" tokens", 1).setInitialMax(ids.length - 1)
                    .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).showSpeed().build()) {
                result = Perplexity.of(stages, ids, window, step, bar::stepTo);
            }
            out.printf("perplexity %.4f over %d tokens (mean negative log-likelihood %.6f nats)%n", result.perplexity(),
                    result.scoredTokens(), result.meanNll());
            out.flush();
            err.printf("convoy: %d tokens scored in %.2f s: %.1f tokens/s%n", result.scoredTokens(), result.seconds(), result.tokensPerSecond());
            err.flush();
        } finally {
            stages.forEach(PipelineStage::close);
        }
        return 0;
    }
}
