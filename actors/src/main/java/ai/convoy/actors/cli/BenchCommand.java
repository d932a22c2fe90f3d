package ai.convoy.actors.cli;

import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.kernels.Backend;
import ai.convoy.kernels.DeviceOutOfMemoryException;
import ai.convoy.kernels.cuda.CudaBackend;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.bench.Benchmark;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.ModelShapes;
import ai.convoy.runtime.model.Transformer;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.plan.Plan;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Measures prefill and decode speed of a known model's shape with random weights built on the devices (no checkpoint),",
            "or of a checkpoint (--model). Stages run one after another, as one request goes through them; decode steps attend over",
            "--prompt-len cached positions. --through-runtime also runs jobs through the coordinator and stage actors."})
final class BenchCommand implements Callable<Integer> {
    private static final int WARMUP_STEPS = 4;

    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    /** What is measured: a known shape with random weights, or a checkpoint. */
    static final class Source {
        @Option(names = "--shape", paramLabel = "NAME", description = "A known shape with random weights, one of: ${COMPLETION-CANDIDATES}.",
                completionCandidates = SynthesizeCommand.ShapeNames.class)
        String shape;

        @Option(names = "--model", paramLabel = "DIR", description = "A checkpoint directory (convoy synthesize, then convoy quantize, or a real one).")
        Path model;

        String name() {
            return shape != null ? shape : model.toAbsolutePath().normalize().getFileName().toString();
        }
    }

    @Option(names = "--through-runtime", description = {"Then submit --batch-sizes jobs at a time through the coordinator and stage actors,",
        "as convoy serve and convoy run do, greedy and sampled (temperature 0.8, top-p 0.95, top-k 40), and print their decode",
        "tokens/s, while every job decodes, beside the direct figures. Needs --model."})
    boolean throughRuntime;

    @Option(names = "--quantization", defaultValue = "nf4", paramLabel = "none|nf4|fp4|int8",
            description = "Linear layers' format (default: ${DEFAULT-VALUE}; none is bf16).")
    String quantization;

    @Mixin
    QuantizationMixin quantizationSettings;

    @Mixin
    PlanOptions plan;

    @Option(names = "--batch-sizes", defaultValue = "1,8,32", split = ",", paramLabel = "N,N,...",
            description = "Decode batch sizes to measure (default: ${DEFAULT-VALUE}).")
    int[] batchSizes;

    @Option(names = "--prompt-len", defaultValue = "512", description = "Prompt tokens for the prefill measure (default: ${DEFAULT-VALUE}).")
    int promptLen;

    @Option(names = "--gen-len", defaultValue = "128", description = "Decode steps per batch size (default: ${DEFAULT-VALUE}).")
    int genLen;

    @Option(names = "--seed", defaultValue = "0", description = "Random seed of the weights (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "Print the results as JSON instead of tables.")
    boolean json;

    @Mixin
    VerboseOption verbose;

    private record Stage(PipelineRuntime.StageSpec spec, Backend backend, PipelineStage stage) {
    }

    @Override
    public Integer call() {
        if (throughRuntime && source.model == null) {
            throw new ConvoyException("--through-runtime runs jobs on a checkpoint: give --model DIR (convoy synthesize --shape, then convoy quantize)");
        }
        ModelConfig config = source.model != null ? Model.readConfig(source.model) : ModelShapes.config(source.shape);
        QuantizationOptions options = quantizationSettings.options(Methods.parse("--quantization", quantization));
        Benchmark.Settings settings;
        try {
            settings = new Benchmark.Settings(promptLen, genLen, batchSizes, WARMUP_STEPS);
        } catch (IllegalArgumentException e) {
            throw new ConvoyException("--prompt-len, --gen-len and --batch-sizes: " + e.getMessage());
        }
        int maxBatch = Arrays.stream(batchSizes).max().orElseThrow();
        if (plan.maxContext == null) {
            plan.maxContext = promptLen + WARMUP_STEPS + genLen;
        }
        plan.maxBatch = Math.max(plan.maxBatch, maxBatch);
        Planner.Request request = plan.request(config, options, Path.of("."));
        Plan placement = Planner.plan(request);
        PrintWriter err = spec.commandLine().getErr();
        PrintWriter out = spec.commandLine().getOut();
        if (!json) {
            PlanPrinter.print(err, placement, request, plan.kvDtype);
        }
        List<Stage> stages = new ArrayList<>();
        Benchmark.Result result;
        ObjectNode jsonRoot;
        Checkpoint checkpoint = source.model != null ? Checkpoint.open(source.model) : null;
        try {
            long loadStart = System.nanoTime();
            for (PipelineRuntime.StageSpec s : PipelineRuntime.stagesOf(placement)) {
                Backend backend = PipelineRuntime.backendFor(s.device(), request.kvBytesGpu());
                try {
                    stages.add(new Stage(s, backend, checkpoint != null ? PipelineRuntime.loadStage(config, checkpoint, s, options, backend)
                            : new PipelineStage(Transformer.random(config, backend, options, seed, s.firstLayer(), s.lastLayer(), s.embedding(), s.head()))));
                } catch (DeviceOutOfMemoryException e) {
                    backend.close();
                    throw new ConvoyException(s.device().id() + " cannot hold layers " + s.firstLayer() + "-" + s.lastLayer() + ": " + e.getMessage());
                } catch (RuntimeException e) {
                    backend.close();
                    throw e;
                }
                err.printf("convoy: built %s on %s%n", layers(s), s.device().id());
                err.flush();
            }
            double load = (System.nanoTime() - loadStart) / 1e9;
            result = new Benchmark(stages.stream().map(Stage::stage).toList(), config.vocabSize())
                    .run(settings, i -> {
                        err.printf("convoy: measured batch %d%n", batchSizes[i]);
                        err.flush();
                    });
            // a stored checkpoint runs as stored, whatever --quantization says: the plan's footprint knows which
            jsonRoot = report(out, result, stages, load, request.model().quantization());
        } finally {
            for (Stage s : stages) {
                s.stage().close();
                s.backend().close();
            }
            if (checkpoint != null) {
                checkpoint.close();
            }
        }
        if (throughRuntime) {
            List<RuntimeBench.Row> rows = RuntimeBench.measure(source.model, request, options, config, batchSizes, promptLen, genLen, err);
            if (jsonRoot == null) {
                RuntimeBench.print(out, rows, result);
            } else {
                RuntimeBench.addTo(jsonRoot, rows, result);
            }
        }
        if (jsonRoot != null) {
            try {
                out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(jsonRoot));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
            out.flush();
        }
        return 0;
    }

    private static String layers(PipelineRuntime.StageSpec s) {
        String what = s.firstLayer() <= s.lastLayer() ? "layers " + s.firstLayer() + "-" + s.lastLayer() : "no layers";
        return what + (s.embedding() ? " + embeddings" : "") + (s.head() ? " + head" : "");
    }

    /** Per stage: its device, weights, bytes a decode step reads, copy bandwidth (CUDA) and peak memory. */
    private record DeviceRow(String device, String name, String layers, long weightBytes, long stepBytes, double copyBandwidth, long peakBytes) {
        /** Seconds a decode step spends at least reading this stage's weights. */
        double floorSeconds() {
            return copyBandwidth > 0 ? stepBytes / copyBandwidth : 0;
        }
    }

    /** Prints the direct figures; with --json, returns them instead, to be printed once complete. */
    private ObjectNode report(PrintWriter out, Benchmark.Result r, List<Stage> stages, double loadSeconds, QuantizationOptions options) {
        List<DeviceRow> devices = new ArrayList<>();
        for (Stage s : stages) {
            Transformer part = s.stage().part();
            String name = s.backend() instanceof CudaBackend c ? c.deviceName() : s.backend().name();
            double copy = s.backend() instanceof CudaBackend c ? c.copyBandwidth(1L << 30, 9) : 0;
            long peak = s.backend() instanceof CudaBackend c ? c.peakBytes() : -1;
            devices.add(new DeviceRow(s.spec().device().id(), name, layers(s.spec()), part.weightBytes(), part.bytesReadPerStep(), copy, peak));
        }
        long stepBytes = devices.stream().mapToLong(DeviceRow::stepBytes).sum();
        double floor = devices.stream().mapToDouble(DeviceRow::floorSeconds).sum();
        if (json) {
            ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            ObjectNode root = mapper.createObjectNode();
            root.put("shape", source.name()).put("quantization", options.method().cliName()).put("promptLen", promptLen).put("genLen", genLen)
                    .put("loadSeconds", loadSeconds).put("prefillSeconds", r.prefillSeconds())
                    .put("prefillTokensPerSecond", r.prefillTokensPerSecond()).put("weightBytesReadPerStep", stepBytes);
            ArrayNode ds = root.putArray("devices");
            for (DeviceRow d : devices) {
                ds.addObject().put("device", d.device()).put("name", d.name()).put("layers", d.layers()).put("weightBytes", d.weightBytes())
                        .put("copyBandwidthBytesPerSecond", d.copyBandwidth()).put("peakBytes", d.peakBytes());
            }
            ArrayNode dec = root.putArray("decode");
            for (Benchmark.Decode d : r.decode()) {
                ObjectNode o = dec.addObject().put("batch", d.batch()).put("msPerStep", d.secondsPerStep() * 1e3)
                        .put("tokensPerSecond", d.tokensPerSecond()).put("weightGBPerSecond", stepBytes / d.secondsPerStep() / 1e9)
                        .put("sampledMsPerStep", d.sampledSecondsPerStep() * 1e3).put("sampledTokensPerSecond", d.sampledTokensPerSecond());
                if (floor > 0) {
                    o.put("fractionOfCopyBandwidth", floor / d.secondsPerStep());
                }
            }
            return root;
        }
        out.printf("%s, %s, %d stage%s, built in %.1f s%n%n", source.name(), options.describe(), stages.size(), stages.size() == 1 ? "" : "s", loadSeconds);
        out.printf("%-8s %-26s %-34s %10s %10s %10s%n", "device", "name", "holds", "weights", "copy GB/s", "peak mem");
        for (DeviceRow d : devices) {
            out.printf("%-8s %-26s %-34s %10s %10s %10s%n", d.device(), d.name(), d.layers(), Units.bytes(d.weightBytes()),
                    d.copyBandwidth() > 0 ? String.format("%.0f", d.copyBandwidth() / 1e9) : "-", d.peakBytes() >= 0 ? Units.bytes(d.peakBytes()) : "-");
        }
        out.printf("%nprefill  %d tokens in %.1f ms: %.0f tokens/s%n%n", promptLen, r.prefillSeconds() * 1e3, r.prefillTokensPerSecond());
        out.printf("%-6s %10s %12s %14s %12s %14s %10s%n", "batch", "ms/step", "tokens/s", "weights GB/s", "of copy bw", "sampled tok/s",
                "of greedy");
        for (Benchmark.Decode d : r.decode()) {
            out.printf("%-6d %10.2f %12.1f %14.0f %12s %14.1f %9.1f%%%n", d.batch(), d.secondsPerStep() * 1e3, d.tokensPerSecond(),
                    stepBytes / d.secondsPerStep() / 1e9, floor > 0 ? String.format("%.0f%%", 100 * floor / d.secondsPerStep()) : "-",
                    d.sampledTokensPerSecond(), 100 * d.sampledTokensPerSecond() / d.tokensPerSecond());
        }
        out.printf("%n(weights read per decode step: %s; \"of copy bw\" is the time to read them at each device's measured copy bandwidth"
                + " over the step time; sampled: %s, drawn where the logits are)%n", Units.bytes(stepBytes), Benchmark.sampledSettings());
        out.flush();
        return null;
    }
}
