package ai.convoy.actors.pipeline;

import ai.convoy.kernels.Backend;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Footprint;
import ai.convoy.runtime.plan.Plan;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;

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
    // on a cluster: every member's agent, which starts the stages on its devices
    private final Map<String, ActorRef<NodeAgent.Command>> nodes = new java.util.concurrent.ConcurrentHashMap<>();
    // on a cluster: the checkpoint's fingerprint, which every member's copy must have, and the members placed over
    private final String fingerprint;
    private final List<String> members;
    // on a cluster: how long the first placement waits for every member before it places over those that joined
    private final java.time.Duration joinWait;
    // on a cluster: how long a member that held stages and left is waited for before the model is placed without it
    private final java.time.Duration rejoinWait;

    Replanner(ModelConfig config, Checkpoint checkpoint, QuantizationOptions options, Function<PipelineRuntime.StageSpec, Backend> backends,
              int kvBytesGpu, Planner.Request request, List<PipelineRuntime.StageSpec> specs) {
        this(config, checkpoint, options, backends, kvBytesGpu, request, specs, "", List.of(), java.time.Duration.ZERO, java.time.Duration.ZERO);
    }

    /**
     * A cluster's: every member's stages start through its agent, once each of {@code members} has joined with a
     * checkpoint of {@code fingerprint} (or {@code joinWait} has passed); {@code request} plans over their devices.
     */
    Replanner(ModelConfig config, Checkpoint checkpoint, QuantizationOptions options, Planner.Request request, String fingerprint,
              List<String> members, java.time.Duration joinWait, java.time.Duration rejoinWait) {
        this(config, checkpoint, options, s -> {
            throw new IllegalStateException("a cluster's stages start on their members");
        }, request.kvBytesGpu(), request, List.of(), fingerprint, members, joinWait, rejoinWait);
    }

    private Replanner(ModelConfig config, Checkpoint checkpoint, QuantizationOptions options, Function<PipelineRuntime.StageSpec, Backend> backends,
              int kvBytesGpu, Planner.Request request, List<PipelineRuntime.StageSpec> specs, String fingerprint,
              List<String> members, java.time.Duration joinWait, java.time.Duration rejoinWait) {
        this.joinWait = joinWait;
        this.rejoinWait = rejoinWait;
        this.fingerprint = fingerprint;
        this.members = members;
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
    public List<Coordinator.StageSource> without(int lost) {
        Device gone = specs.get(lost).device();
        return planOver(request.devices().stream().filter(d -> !d.equals(gone) && reachable(d)).toList());
    }

    /** Whether the stages are placed over cluster members. */
    public boolean clustered() {
        return !members.isEmpty();
    }

    /** How long the first placement waits for every member to join. */
    public java.time.Duration joinWait() {
        return joinWait;
    }

    /** How long a member that held stages and left is waited for before the model is placed without it (zero: not at all). */
    public java.time.Duration rejoinWait() {
        return rejoinWait;
    }

    /** The cluster member stage {@code stage} runs on; empty when it runs in this process. */
    public String memberOf(int stage) {
        return specs.get(stage).device().member();
    }

    /** Whether any member has joined: a placement past the join wait needs one. */
    public boolean anyMemberJoined() {
        return !nodes.isEmpty();
    }

    /** The devices the current plan was made over (empty before the first placement on a cluster). */
    public List<Device> devices() {
        return specs.isEmpty() ? List.of() : request.devices();
    }

    /** The members that have not joined yet: the first placement waits for them. */
    public List<String> awaitedMembers() {
        return members.stream().filter(m -> !nodes.containsKey(m)).toList();
    }

    /** Why a member cannot take stages (not one of the cluster's, or another checkpoint), or null when it can. */
    public String refusal(NodeAgent.MemberInfo member) {
        if (!members.contains(member.member())) {
            return "refusing member '" + member.member() + "': the cluster config names " + String.join(", ", members);
        }
        if (!member.checkpoint().equals(fingerprint)) {
            return "refusing member '" + member.member() + "': its model is another checkpoint (fingerprint " + member.checkpoint().substring(0, 12)
                    + ", here " + fingerprint.substring(0, 12) + "): every member needs a copy of the same model";
        }
        return null;
    }

    /** A member's agent answers: its devices join the plan's from the next placement on. */
    public void memberJoined(NodeAgent.MemberInfo member) {
        nodes.put(member.member(), member.agent());
        List<Device> devices = new ArrayList<>(request.devices().stream().filter(d -> !d.member().equals(member.member())).toList());
        devices.addAll(member.devices());
        request = requestOver(devices);
    }

    /** A member left; whether the current placement has a stage there. */
    public boolean memberLeft(String member) {
        nodes.remove(member);
        return specs.stream().anyMatch(s -> s.device().member().equals(member));
    }

    /** The model placed again over every device of the members here now. */
    public List<Coordinator.StageSource> overMembersHere() {
        return planOver(request.devices().stream().filter(this::reachable).toList());
    }

    /** The stages of the current plan. */
    public List<Coordinator.StageSource> sources() {
        List<Coordinator.StageSource> out = new ArrayList<>();
        for (PipelineRuntime.StageSpec s : specs) {
            String member = s.device().member();
            out.add(member.isEmpty()
                    ? new Coordinator.LocalStage(() -> PipelineRuntime.loadStage(config, checkpoint, s, options, backends.apply(s)))
                    : new Coordinator.RemoteStage(nodes.get(member), s, options, kvBytesGpu));
        }
        return out;
    }

    private boolean reachable(Device d) {
        return d.member().isEmpty() || nodes.containsKey(d.member());
    }

    /**
     * The stages of a new plan in which the device of stage {@code stage} has only {@code budget} bytes (another
     * process took the rest): the Planner moves what no longer fits to the other devices.
     */
    public List<Coordinator.StageSource> withLessMemory(int stage, long budget) {
        Device shrunk = specs.get(stage).device();
        Device now = shrunk.withBudget(Math.max(0, Math.min(budget, shrunk.budget())));
        return planOver(request.devices().stream().map(d -> d.equals(shrunk) ? now : d).toList());
    }

    private List<Coordinator.StageSource> planOver(List<Device> devices) {
        Planner.Request next = requestOver(devices);
        Plan plan = Planner.plan(next);
        request = next;
        specs = PipelineRuntime.stagesOf(plan);
        return sources();
    }

    private Planner.Request requestOver(List<Device> devices) {
        // members in the config's order, which the Planner keeps: the first member's layers come first
        List<Device> ordered = devices.stream().sorted(java.util.Comparator.comparingInt(d -> members.indexOf(d.member()))).toList();
        return request.withDevices(ordered);
    }

    /** The plan of the current placement; null when the stages were given rather than planned. */
    public Plan plan() {
        return request == null ? null : Planner.plan(request);
    }

    /** Bytes {@code plan} gives each device it uses, by device id; empty for no plan. */
    static java.util.Map<String, Long> plannedBytes(Plan plan) {
        java.util.Map<String, Long> out = new java.util.LinkedHashMap<>();
        if (plan != null) {
            plan.accounts().forEach(a -> out.put(a.device().id(), a.total()));
        }
        return out;
    }

    /** Where each stage is, for messages: "sim:0 layers 0-3 +embeddings, cpu layers 4-5 +head". */
    public String describe() {
        return describe(specs);
    }

    static String describe(List<PipelineRuntime.StageSpec> specs) {
        List<String> parts = new ArrayList<>();
        for (PipelineRuntime.StageSpec s : specs) {
            parts.add(s.device().id() + (s.firstLayer() <= s.lastLayer() ? " layers " + s.firstLayer() + "-" + s.lastLayer() : "")
                    + (s.embedding() ? " +embeddings" : "") + (s.head() ? " +head" : ""));
        }
        return String.join(", ", parts);
    }
}
