package ai.convoy.actors.pipeline;

import ai.convoy.kernels.Backend;
import ai.convoy.kernels.BudgetedBackend;
import ai.convoy.kernels.DeviceOutOfMemoryException;
import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.formats.CheckpointFingerprint;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.Transformer;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Plan;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.runtime.tokenizer.Tokenizer;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * A model loaded as a pipeline of stages, one actor each, behind a coordinator; jobs go in as {@link JobRequest}s and
 * their {@link JobEvent}s come back as they happen.
 */
public final class PipelineRuntime implements AutoCloseable {
    private static final Duration ASK_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration STATS_TIMEOUT = Duration.ofSeconds(3);
    private static final Duration PROBE_TIMEOUT = Duration.ofSeconds(1);

    /** Layers {@code firstLayer..lastLayer} (none when first > last) on a device, with the embeddings or the head. */
    public record StageSpec(Device device, int firstLayer, int lastLayer, boolean embedding, boolean head) {
    }

    /** The actor system's name, the same on every cluster member: Pekko joins only systems of one name. */
    public static final String SYSTEM_NAME = "convoy";

    private final ActorSystem<Coordinator.Command> system;
    private final Checkpoint checkpoint;
    // this process's coordinator's; null on a cluster, whose coordinator may run on another member
    private final Replanner replanner;
    // on a cluster: every plan but its devices, which the coordinator says
    private final Planner.Request clusterRequest;
    private final AtomicLong sinks = new AtomicLong();
    // each job's event sink until its last event, by job id
    private final java.util.Map<String, ActorRef<JobEvent>> liveSinks = new java.util.concurrent.ConcurrentHashMap<>();
    // on a cluster, while the coordinator moves to another member: why jobs are refused now; null otherwise
    private volatile String coordinatorMoving;
    private final java.util.concurrent.atomic.AtomicBoolean probing = new java.util.concurrent.atomic.AtomicBoolean();

    private PipelineRuntime(ActorSystem<Coordinator.Command> system, Checkpoint checkpoint, Replanner replanner, Planner.Request clusterRequest) {
        this.system = system;
        this.checkpoint = checkpoint;
        this.replanner = replanner;
        this.clusterRequest = clusterRequest;
    }

    /** The stages now, in pipeline order: the plan's, or the last re-plan's after a stage was lost. */
    public List<StageSpec> stages() {
        return replanner != null ? replanner.specs() : layout().stages();
    }

    /**
     * The placement now, from one answer: its plan (null where the stages were given rather than planned, or not placed
     * yet), its stages, where each is (as {@link #placement()} says it) and the bytes the plan gives each device.
     */
    public record Layout(Plan plan, List<StageSpec> stages, String placement, java.util.Map<String, Long> plannedBytes) {
    }

    /** The placement now: on a serve member not hosting the coordinator, asked of it once and planned once. */
    public Layout layout() {
        Plan plan = plan();
        List<StageSpec> specs = replanner != null ? replanner.specs() : plan == null ? List.of() : stagesOf(plan);
        return new Layout(plan, specs, Replanner.describe(specs), Replanner.plannedBytes(plan));
    }

    /**
     * The stages of a plan: the embeddings join the first layer stage when they share its device, else they are a
     * stage of their own before it; likewise the final norm and lm_head after the last.
     */
    public static List<StageSpec> stagesOf(Plan plan) {
        List<StageSpec> out = new ArrayList<>();
        List<Plan.Stage> stages = plan.stages();
        boolean embedSeparate = !plan.embedDevice().equals(stages.getFirst().device());
        boolean headSeparate = !plan.headDevice().equals(stages.getLast().device());
        if (embedSeparate) {
            out.add(new StageSpec(plan.embedDevice(), 0, -1, true, false));
        }
        for (int i = 0; i < stages.size(); i++) {
            Plan.Stage s = stages.get(i);
            out.add(new StageSpec(s.device(), s.firstLayer(), s.lastLayer(), i == 0 && !embedSeparate, i == stages.size() - 1 && !headSeparate));
        }
        if (headSeparate) {
            int n = plan.layers();
            out.add(new StageSpec(plan.headDevice(), n, n - 1, false, true));
        }
        return out;
    }

    /** As {@link #start(Path, List, QuantizationOptions, int, int)} with a float32 KV cache on GPUs. */
    public static PipelineRuntime start(Path modelDir, List<StageSpec> specs, QuantizationOptions options, int maxBatch) {
        return start(modelDir, specs, options, maxBatch, s -> backendFor(s.device(), 4), Integer.MAX_VALUE, null, ConfigFactory.load());
    }

    /**
     * The model planned as {@code request} asks, each stage on the backend {@code backends} gives it; no job grows
     * past the plan's context. When a stage is lost the model is planned again over the devices left and the live
     * sequences are replayed there.
     */
    public static PipelineRuntime start(Path modelDir, Planner.Request request, QuantizationOptions options,
                                        java.util.function.Function<StageSpec, Backend> backends) {
        return start(modelDir, request, options, backends, ConfigFactory.load());
    }

    /** As {@link #start(Path, Planner.Request, QuantizationOptions, java.util.function.Function)}, the actor system configured by {@code config}. */
    public static PipelineRuntime start(Path modelDir, Planner.Request request, QuantizationOptions options,
                                        java.util.function.Function<StageSpec, Backend> backends, Config config) {
        return start(modelDir, stagesOf(Planner.plan(request)), options, request.maxBatch(), backends, request.maxContext(), request, config);
    }

    /** As {@link #start(Path, List, QuantizationOptions, int)}, with the backend of each stage given. */
    public static PipelineRuntime start(Path modelDir, List<StageSpec> specs, QuantizationOptions options, int maxBatch,
                                        java.util.function.Function<StageSpec, Backend> backends) {
        return start(modelDir, specs, options, maxBatch, backends, Integer.MAX_VALUE, null, ConfigFactory.load());
    }

    private static PipelineRuntime start(Path modelDir, List<StageSpec> specs, QuantizationOptions options, int maxBatch,
                                         java.util.function.Function<StageSpec, Backend> backends, int maxContext, Planner.Request request,
                                         Config actorConfig) {
        ModelConfig config = Model.readConfig(modelDir);
        Checkpoint checkpoint = Checkpoint.open(modelDir);
        try {
            List<Coordinator.StageSource> stages = new ArrayList<>();
            for (StageSpec s : specs) {
                java.util.function.Supplier<PipelineStage> loader = () -> loadStage(config, checkpoint, s, options, backends.apply(s));
                // load once now, so a stage that cannot fit fails the start, not the first job
                PipelineStage first = loader.get();
                java.util.concurrent.atomic.AtomicReference<PipelineStage> preloaded = new java.util.concurrent.atomic.AtomicReference<>(first);
                stages.add(new Coordinator.LocalStage(() -> {
                    PipelineStage p = preloaded.getAndSet(null);
                    return p != null ? p : loader.get();
                }));
            }
            Replanner replanner = new Replanner(config, checkpoint, options, backends, request == null ? 4 : request.kvBytesGpu(), request, specs);
            return launch(modelDir, config, checkpoint, replanner, stages, maxBatch, maxContext, actorConfig);
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    /**
     * This process as member {@code member} of a cluster whose actor system {@code actorConfig} configures, one of
     * those running the coordinator: it runs on the oldest of them (a cluster singleton) and places the model over the
     * devices of every member of {@code members} once each has joined with the same checkpoint, or over those that
     * joined after {@code joinWait}; a member holding stages that leaves is waited for {@code rejoinWait} before the model
     * is placed without it. This member offers {@code request}'s devices, each naming the member.
     */
    public static PipelineRuntime startCluster(Path modelDir, Planner.Request request, QuantizationOptions options, String member,
                                               List<String> members, java.time.Duration joinWait, java.time.Duration rejoinWait,
                                               Config actorConfig) {
        ModelConfig config = Model.readConfig(modelDir);
        Checkpoint checkpoint = Checkpoint.open(modelDir);
        try {
            String fingerprint = CheckpointFingerprint.of(modelDir);
            Planner.Request overNone = request.withDevices(List.of());
            Coordinator.Settings settings = settings(modelDir, config, null, request.maxBatch(), request.maxContext());
            PipelineRuntime[] runtime = {null};
            Behavior<Coordinator.Command> guardian = ServeMember.create(NodeAgent.create(member, request.devices(), config, checkpoint, fingerprint),
                    () -> Coordinator.create(settings.withReplanner(new Replanner(config, checkpoint, options, overNone, fingerprint, members,
                            joinWait, rejoinWait)), List.of()),
                    reason -> runtime[0].coordinatorLost(reason));
            List<String> roles = new ArrayList<>(actorConfig.getStringList("pekko.cluster.roles"));
            roles.add(ServeMember.COORDINATOR_ROLE);
            Config withCoordinatorRole = actorConfig.withValue("pekko.cluster.roles", com.typesafe.config.ConfigValueFactory.fromIterable(roles));
            runtime[0] = new PipelineRuntime(ActorSystem.create(guardian, SYSTEM_NAME, withCoordinatorRole), checkpoint, null, overNone);
            return runtime[0];
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    /** The coordinator of {@code stages} (none: placed later) in an actor system of its own, with the model's tokenizer and eos ids. */
    private static PipelineRuntime launch(Path modelDir, ModelConfig config, Checkpoint checkpoint, Replanner replanner,
                                          List<Coordinator.StageSource> stages, int maxBatch, int maxContext, Config actorConfig) {
        Coordinator.Settings settings = settings(modelDir, config, replanner, maxBatch, maxContext);
        return new PipelineRuntime(ActorSystem.create(Coordinator.create(settings, stages), SYSTEM_NAME, actorConfig), checkpoint, replanner, null);
    }

    private static Coordinator.Settings settings(Path modelDir, ModelConfig config, Replanner replanner, int maxBatch, int maxContext) {
        Tokenizer tokenizer = Tokenizer.existsIn(modelDir) ? Tokenizer.load(modelDir) : null;
        return new Coordinator.Settings(config.withMaxPositions(Math.min(maxContext, config.maxPositions())), tokenizer,
                Model.eosTokenIds(modelDir, config), maxBatch, replanner);
    }

    /** Waits until every stage has started, saying every few seconds which members it waits for; false past {@code timeout}. */
    public boolean awaitPlacement(java.time.Duration timeout, Consumer<String> progress) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        long nextReport = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < end) {
            if (!ask(system, Coordinator.GetStages::new).toCompletableFuture().join().stages().isEmpty()) {
                return true;
            }
            if (System.nanoTime() > nextReport) {
                List<String> awaited = placementNow().awaitedMembers();
                progress.accept("waiting for " + (awaited.isEmpty() ? "the stages to start" : String.join(", ", awaited) + " to join"));
                nextReport = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(5);
            }
            Thread.sleep(100);
        }
        return false;
    }

    /** The stage's layers loaded on its backend; a device too small for them is the user's to fix, in one line. */
    public static PipelineStage loadStage(ModelConfig config, Checkpoint checkpoint, StageSpec s, QuantizationOptions options, Backend backend) {
        try {
            return new PipelineStage(Transformer.loadPart(config, checkpoint, backend, options, s.firstLayer(), s.lastLayer(),
                    s.embedding(), s.head()));
        } catch (DeviceOutOfMemoryException e) {
            throw new ConvoyException(s.device().id() + " cannot hold layers " + s.firstLayer() + "-" + s.lastLayer() + ": " + e.getMessage());
        }
    }

    /** Refuses, before anything loads, a plan that puts layers on a GPU this machine lacks (planned from --max-memory). */
    public static void requireDevicesHere(Plan plan) {
        for (StageSpec s : stagesOf(plan)) {
            if (s.device().kind() == Device.Kind.CUDA && s.device().total() < 0) {
                throw new ConvoyException(s.device().id() + " is not on this machine (a --max-memory budget names it): convoy plan can plan "
                        + "for it, running needs it here; give --devices cpu or sim:N=SIZE to run without it");
            }
        }
    }

    /**
     * CUDA GPUs run the CUDA backend; simulated GPUs the CPU backend under their budget, failing beyond it as a GPU
     * would; the CPU has no budget of its own.
     */
    public static Backend backendFor(Device device, int kvBytesGpu) {
        return switch (device.kind()) {
            case CUDA -> new ai.convoy.kernels.cuda.CudaBackend(device.index(), kvBytesGpu);
            case SIM -> new BudgetedBackend(new CpuBackend(), device.id(), device.budget());
            case CPU, DISK -> new CpuBackend();
        };
    }

    /** Submits a job; {@code events} sees each event as it comes; the future completes with the last (done or failed). */
    public CompletableFuture<JobEvent> submit(JobRequest request, Consumer<JobEvent> events) {
        CompletableFuture<JobEvent> last = new CompletableFuture<>();
        String moving = coordinatorMoving;
        if (moving != null) {
            JobEvent refused = unavailable(request.getJobId(), moving);
            events.accept(refused);
            last.complete(refused);
            return last;
        }
        ActorRef<JobEvent> sink = system.systemActorOf(Behaviors.receive(JobEvent.class).onMessage(JobEvent.class, e -> {
            if (last.isDone()) {
                // ended here already (its coordinator was lost): what the old coordinator still sends is too late
                return Behaviors.stopped();
            }
            events.accept(e);
            if (e.hasDone() || e.hasFailed()) {
                last.complete(e);
                liveSinks.remove(request.getJobId());
                return Behaviors.stopped();
            }
            return Behaviors.same();
        }).build(), "job-" + sinks.incrementAndGet(), Props.empty());
        liveSinks.put(request.getJobId(), sink);
        system.tell(new Coordinator.Submit(request, sink));
        return last;
    }

    /**
     * The coordinator's member is gone: every job whose events are still awaited here ends as unavailable, and new
     * jobs are refused so until a coordinator answers again (the singleton started on another member), since until
     * then they would go to the one that is gone.
     */
    private void coordinatorLost(String reason) {
        coordinatorMoving = reason;
        liveSinks.forEach((id, sink) -> sink.tell(unavailable(id, reason)));
        if (probing.compareAndSet(false, true)) {
            probeCoordinator();
        }
    }

    private void probeCoordinator() {
        AskPattern.<Coordinator.Command, Coordinator.Placement>ask(system, Coordinator.GetPlacement::new, PROBE_TIMEOUT, system.scheduler())
                .whenComplete((placement, noAnswer) -> {
                    if (noAnswer == null) {
                        coordinatorMoving = null;
                        probing.set(false);
                    } else {
                        probeCoordinator();
                    }
                });
    }

    private static JobEvent unavailable(String jobId, String reason) {
        return JobEvent.newBuilder().setJobId(jobId)
                .setFailed(ai.convoy.proto.Failed.newBuilder().setCode(ai.convoy.proto.Failed.Code.UNAVAILABLE).setMessage(reason)).build();
    }

    public void cancel(String jobId) {
        system.tell(new Coordinator.Cancel(jobId));
    }

    /** At most {@code sequences} live sequences from now on. */
    public void limitLive(int sequences, String why) {
        system.tell(new Coordinator.LimitLive(sequences, why));
    }

    /** The batch limits now. */
    public Coordinator.Limits limits() {
        return ask(system, Coordinator.GetLimits::new).toCompletableFuture().join();
    }

    /** Live sequences and waiting jobs now. */
    public Coordinator.Load load() {
        return ask(system, Coordinator.GetLoad::new).toCompletableFuture().join();
    }

    /** The actor system the pipeline runs in, for servers that share it. */
    public ActorSystem<?> system() {
        return system;
    }

    /** Where each stage is, for messages: "sim:0 layers 0-3 +embeddings, cpu layers 4-5 +head". */
    public String placement() {
        return replanner != null ? replanner.describe() : layout().placement();
    }

    /** The plan of the current placement; null when the stages were given rather than planned, or not placed yet. */
    public Plan plan() {
        if (replanner != null) {
            return replanner.plan();
        }
        List<Device> devices = placementNow().devices();
        return devices.isEmpty() ? null : Planner.plan(clusterRequest.withDevices(devices));
    }

    /** Bytes the plan gives each device it uses, by device id; empty when the stages were given rather than planned. */
    public java.util.Map<String, Long> plannedBytes() {
        return layout().plannedBytes();
    }

    /** What the coordinator, wherever it runs, says of the placement. */
    private Coordinator.Placement placementNow() {
        return ask(system, Coordinator.GetPlacement::new).toCompletableFuture().join();
    }

    /**
     * Each stage's busy time and age; a stage that does not answer within {@link #STATS_TIMEOUT} (replaced by a new
     * placement meanwhile, or its member gone) is left out.
     */
    public List<StageActor.StageStats> stats() {
        List<ActorRef<StageActor.Command>> stages = ask(system, Coordinator.GetStages::new).toCompletableFuture().join().stages();
        List<CompletableFuture<StageActor.StageStats>> asked = stages.stream()
                .map(s -> AskPattern.<StageActor.Command, StageActor.StageStats>ask(s, StageActor.Stats::new, STATS_TIMEOUT, system.scheduler())
                        .toCompletableFuture().exceptionally(noAnswer -> null))
                .toList();
        return asked.stream().map(CompletableFuture::join).filter(java.util.Objects::nonNull).toList();
    }

    private <Q, R> CompletionStage<R> ask(ActorRef<Q> target, java.util.function.Function<ActorRef<R>, Q> message) {
        return AskPattern.ask(target, message::apply, ASK_TIMEOUT, system.scheduler());
    }

    @Override
    public void close() {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().join();
        checkpoint.close();
    }
}
