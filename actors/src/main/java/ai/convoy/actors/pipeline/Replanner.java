package ai.convoy.actors.pipeline;

import ai.convoy.kernels.Backend;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Footprint;
import ai.convoy.runtime.plan.Plan;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * The model's placement as it changes: the stages the run started with, the Planner's limits for the memory a stage's
 * device has now, and, for a planned run, the Planner's plan over the devices left when a stage is lost or its
 * device holds less. Each plan's stages load lazily, in their actors.
 */
public final class Replanner {
    private final ModelConfig config;
    private final Checkpoint checkpoint;
    private final QuantizationOptions options;
    private final Function<PipelineRuntime.StageSpec, Backend> backends;
    private final int kvBytesGpu;
    // null when the stages were given rather than planned: then nothing can be placed again
    private Planner.Request request;
    private List<PipelineRuntime.StageSpec> specs;

    Replanner(ModelConfig config, Checkpoint checkpoint, QuantizationOptions options, Function<PipelineRuntime.StageSpec, Backend> backends,
              int kvBytesGpu, Planner.Request request, List<PipelineRuntime.StageSpec> specs) {
        this.config = config;
        this.checkpoint = checkpoint;
        this.options = options;
        this.backends = backends;
        this.kvBytesGpu = kvBytesGpu;
        this.request = request;
        this.specs = specs;
    }

    /** Whether the run was planned, so that the Planner can place it again. */
    public boolean canReplan() {
        return request != null;
    }

    /** The bytes stage {@code stage}'s device was planned with. */
    public long budget(int stage) {
        return specs.get(stage).device().budget();
    }

    /** The Planner's largest limits, no larger than {@code now}, at which stage {@code stage} fits in {@code bytes}; null when none. */
    public Planner.Fit fit(int stage, Planner.Fit now, long bytes) {
        PipelineRuntime.StageSpec s = specs.get(stage);
        return Planner.fit(Footprint.of(config, options), new Planner.Part(s.device(), s.firstLayer(), s.lastLayer(), s.embedding(), s.head()),
                kvBytesGpu, now, bytes);
    }

    /** The current stages, in pipeline order. */
    public List<PipelineRuntime.StageSpec> specs() {
        return specs;
    }

    /**
     * The stages of a new plan without the device of stage {@code lost}; throws the Planner's ConvoyException when the
     * model does not fit the devices left.
     */
    public List<Supplier<PipelineStage>> without(int lost) {
        Device gone = specs.get(lost).device();
        return planOver(request.devices().stream().filter(d -> !d.equals(gone)).toList());
    }

    /**
     * The stages of a new plan in which the device of stage {@code stage} has only {@code budget} bytes (another
     * process took the rest): the Planner moves what no longer fits to the other devices.
     */
    public List<Supplier<PipelineStage>> withLessMemory(int stage, long budget) {
        Device shrunk = specs.get(stage).device();
        Device now = new Device(shrunk.kind(), shrunk.index(), shrunk.name(), shrunk.total(), Math.max(0, Math.min(budget, shrunk.budget())));
        return planOver(request.devices().stream().map(d -> d.equals(shrunk) ? now : d).toList());
    }

    private List<Supplier<PipelineStage>> planOver(List<Device> devices) {
        Planner.Request next = new Planner.Request(request.model(), devices, request.strategy(), request.maxBatch(), request.maxContext(),
                request.kvBytesGpu(), request.manual());
        Plan plan = Planner.plan(next);
        request = next;
        specs = PipelineRuntime.stagesOf(plan);
        return loaders();
    }

    private List<Supplier<PipelineStage>> loaders() {
        List<Supplier<PipelineStage>> out = new ArrayList<>();
        for (PipelineRuntime.StageSpec s : specs) {
            out.add(() -> PipelineRuntime.loadStage(config, checkpoint, s, options, backends.apply(s)));
        }
        return out;
    }

    /** Bytes the plan gives each device it uses, by device id; empty when the stages were given rather than planned. */
    public java.util.Map<String, Long> plannedBytes() {
        if (request == null) {
            return java.util.Map.of();
        }
        java.util.Map<String, Long> out = new java.util.LinkedHashMap<>();
        Planner.plan(request).accounts().forEach(a -> out.put(a.device().id(), a.total()));
        return out;
    }

    /** Where each stage is, for messages: "sim:0 layers 0-3 +embeddings, cpu layers 4-5 +head". */
    public String describe() {
        List<String> parts = new ArrayList<>();
        for (PipelineRuntime.StageSpec s : specs) {
            parts.add(s.device().id() + (s.firstLayer() <= s.lastLayer() ? " layers " + s.firstLayer() + "-" + s.lastLayer() : "")
                    + (s.embedding() ? " +embeddings" : "") + (s.head() ? " +head" : ""));
        }
        return String.join(", ", parts);
    }
}
