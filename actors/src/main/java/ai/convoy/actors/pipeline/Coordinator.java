package ai.convoy.actors.pipeline;

import ai.convoy.kernels.DeviceOutOfMemoryException;
import ai.convoy.proto.Accepted;
import ai.convoy.proto.Done;
import ai.convoy.proto.Failed;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.PromptLogits;
import ai.convoy.proto.Tokens;
import ai.convoy.proto.Usage;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.generate.Generator;
import ai.convoy.runtime.generate.SamplingParams;
import ai.convoy.runtime.generate.Scheduler;
import ai.convoy.runtime.generate.SequenceState;
import ai.convoy.runtime.model.HeadOutput;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.pipeline.MicroBatch;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.pipeline.UnknownSequenceException;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.runtime.tokenizer.StreamDecoder;
import ai.convoy.runtime.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * The actor around the {@link Scheduler}: admits jobs (prompt, sampling), sends the scheduler's micro-batches to the
 * first stage, hands the last stage's output back to it, and turns its events into each job's {@link JobEvent}s.
 * It watches every stage and decides what a failure means: a restarted stage's sequences are replayed; out-of-memory
 * takes the Planner's limits for the memory the device has now; a lost stage, or weights that no longer fit, place the
 * model again over what is left.
 */
public final class Coordinator extends AbstractBehavior<Coordinator.Command> {
    /** How long a member has to answer that it started a stage (its layers load afterwards, in the stage). */
    private static final java.time.Duration STAGE_START_TIMEOUT = java.time.Duration.ofSeconds(30);
    private static final java.time.Duration STAGE_ANSWER_TIMEOUT = java.time.Duration.ofSeconds(3);

    public sealed interface Command extends PipelineMessage permits Submit, Cancel, StepDone, StepFailed, StageLoadFailed, StageLost, GetStages,
            GetLimits, LimitLive, GetLoad, Place, StageStarted, Members, MemberDescribed, StageAnswered, GetPlacement, JoinDeadline, RejoinDeadline, StageTerminated {
    }

    /** The wait for {@code member}, which held stages and left, to return is over. */
    private record RejoinDeadline(String member) implements Command {
    }

    /** The first placement's wait for every member is over: it places over the members that joined. */
    private record JoinDeadline() implements Command {
    }

    public record GetPlacement(ActorRef<Placement> replyTo) implements Command {
    }

    /**
     * The devices the model is planned over now (empty before its first placement), from which any member can make the
     * same plan, and the members the first placement still waits for.
     */
    public record Placement(List<Device> devices, List<String> awaitedMembers) implements PipelineMessage {
    }

    /** Whether a stage on another member, reported stopped while its member is still here, answered. */
    private record StageAnswered(int placement, int index, boolean alive, ActorRef<StageActor.Command> stage) implements Command {
    }

    /** Stage {@code index} of placement {@code placement}, watched, stopped or was reported so (its member removed). */
    private record StageTerminated(int placement, int index, ActorRef<StageActor.Command> stage) implements Command {
    }

    /** The cluster members' agents the receptionist knows now. */
    private record Members(java.util.Set<ActorRef<NodeAgent.Command>> agents) implements Command {
    }

    /** A member's agent said what it offers ({@code info} null: it did not answer). */
    private record MemberDescribed(ActorRef<NodeAgent.Command> agent, NodeAgent.MemberInfo info) implements Command {
    }

    /** Where a stage's actor runs: spawned here from its loader, or by the cluster member that owns the stage's device. */
    public sealed interface StageSource {
    }

    public record LocalStage(Supplier<PipelineStage> loader) implements StageSource {
    }

    public record RemoteStage(ActorRef<NodeAgent.Command> node, PipelineRuntime.StageSpec spec, QuantizationOptions options, int kvBytesGpu)
            implements StageSource {
    }

    /** The model's first placement, for a coordinator started before its stages were known (on a cluster, after the members answer). */
    public record Place(List<StageSource> stages) implements Command {
    }

    /** Stage {@code index} of placement {@code placement} started (on its member), or could not be ({@code stage} null). */
    private record StageStarted(int placement, int index, ActorRef<StageActor.Command> stage, String failure) implements Command {
    }

    /** At most this many live sequences from now on. */
    public record LimitLive(int sequences, String why) implements Command {
    }

    public record Submit(JobRequest request, ActorRef<JobEvent> replyTo) implements Command {
    }

    public record Cancel(String jobId) implements Command {
    }

    /** The last stage's logits (or device-picked ids) for the logit rows of micro-batch {@code batchId}. */
    public record StepDone(long batchId, HeadOutput head) implements Command {
    }

    /** A stage could not run micro-batch {@code batchId}; {@code restarted} when it reloaded itself and lost its KV cache. */
    public record StepFailed(long batchId, String stage, RuntimeException cause, boolean restarted) implements Command {
    }

    /** A stage could not load its layers (at a restart): its supervisor stops it. */
    public record StageLoadFailed(String stage, RuntimeException cause) implements Command {
    }

    /** A stage stopped for good (past its restarts, or its reload failed): no step can run any more. */
    public record StageLost(String stage) implements Command {
    }

    /** An out-of-memory that changed the limits: the Planner's figures before and after, for the bytes the device had. */
    public record MemoryReplan(String stage, long bytes, Planner.Fit before, Planner.Fit after) implements PipelineMessage {
        @Override
        public String toString() {
            return stage + " had " + bytes + " bytes for this process: " + before + " -> " + after;
        }
    }

    /** The limits now (rows per micro-batch, live sequences), and each out-of-memory re-plan so far. */
    public record Limits(int maxRows, int maxLive, List<MemoryReplan> replans) implements PipelineMessage {
    }

    public record GetLimits(ActorRef<Limits> replyTo) implements Command {
    }

    public record GetStages(ActorRef<Stages> replyTo) implements Command {
    }

    /** The stage actors, first to last. */
    public record Stages(List<ActorRef<StageActor.Command>> stages) implements PipelineMessage {
    }

    /**
     * Sequences being generated, jobs waiting for a place among them, and since the start: stage restarts, placements
     * of the model after a lost stage or device memory, and sequences replayed from their tokens.
     */
    public record Load(int liveSequences, int waitingJobs, long stageRestarts, long replacements, long replayedSequences)
            implements PipelineMessage {
    }

    public record GetLoad(ActorRef<Load> replyTo) implements Command {
    }

    /** What the coordinator needs to know of the model; {@code replanner} sizes and places it again. */
    public record Settings(ModelConfig config, Tokenizer tokenizer, List<Integer> eosTokenIds, int maxBatch, Replanner replanner) {
        Settings withReplanner(Replanner r) {
            return new Settings(config, tokenizer, eosTokenIds, maxBatch, r);
        }
    }

    /** Where a job's events go, and the decoder of its text. */
    private record Client(ActorRef<JobEvent> replyTo, StreamDecoder decoder) {
    }

    private final Settings settings;
    private final Scheduler scheduler;
    private final Map<String, Client> clients = new HashMap<>();
    private final List<MemoryReplan> replans = new ArrayList<>();
    // the placement's stage actors, first to last, once every one has started; null until then
    private List<ActorRef<StageActor.Command>> stages;
    private List<StageSource> sources = List.of();
    // the placement's stage actors started so far, from the last one back
    private final List<ActorRef<StageActor.Command>> starting = new ArrayList<>();
    // on a cluster: each member's agent, and the member's name once it has said it
    private final Map<ActorRef<NodeAgent.Command>, String> agents = new HashMap<>();
    // stage actors get new names in each placement; their display names stay stage-0, stage-1, ...
    private int placement;
    // each stage's last failure, for the reason given when it is lost
    private final Map<String, String> lastFailure = new HashMap<>();
    private final Map<String, Integer> failures = new HashMap<>();
    // why the pipeline cannot run any more, once a stage is lost; null while every stage runs
    private String lost;
    // micro-batches from this id on were sent under the limits the last out-of-memory set
    private long limitsSince;
    private long stageRestarts;
    private long replacements;
    private long replayedSequences;
    // on a cluster: the first placement no longer waits for every member
    private boolean joinWaitOver;
    // on a cluster: members that held stages and left, waited for (--rejoin-timeout) before placing without them
    private final java.util.Set<String> awaitedBack = new java.util.HashSet<>();

    /** A coordinator of the given stages; with none, jobs wait for a {@link Place}. */
    public static Behavior<Command> create(Settings settings, List<StageSource> stages) {
        return Behaviors.setup(ctx -> new Coordinator(ctx, settings, stages));
    }

    private Coordinator(ActorContext<Command> ctx, Settings settings, List<StageSource> pipeline) {
        super(ctx);
        this.settings = settings;
        // steps as large as the plan made room for: long prompts go in chunks
        Scheduler.Limits limits = new Scheduler.Limits(Planner.stepRows(settings.maxBatch(), settings.config().maxPositions()), settings.maxBatch());
        this.scheduler = new Scheduler(Math.max(1, pipeline.size()), settings.config().maxPositions(), limits, new JobEvents());
        if (!pipeline.isEmpty()) {
            startStages(pipeline);
        }
        if (settings.replanner().clustered()) {
            ctx.scheduleOnce(settings.replanner().joinWait(), ctx.getSelf(), new JoinDeadline());
            ctx.getSystem().receptionist().tell(org.apache.pekko.actor.typed.receptionist.Receptionist.subscribe(NodeAgent.KEY,
                    ctx.messageAdapter(org.apache.pekko.actor.typed.receptionist.Receptionist.Listing.class,
                            l -> new Members(l.getServiceInstances(NodeAgent.KEY)))));
        }
    }

    /**
     * Starts a stage actor per stage, last to first, each knowing the next: here, or on the member that owns the
     * stage's device, which answers when it has started it. Every stage is watched.
     */
    private void startStages(List<StageSource> pipeline) {
        sources = pipeline;
        starting.clear();
        stages = null;
        startStage(pipeline.size() - 1, null);
    }

    private void startStage(int index, ActorRef<StageActor.Command> next) {
        if (index < 0) {
            stages = List.copyOf(starting);
            return;
        }
        ActorContext<Command> ctx = getContext();
        String name = StageActor.nameOf(index);
        int now = placement;
        switch (sources.get(index)) {
            // stage actors block on compute, so they get their own threads
            case LocalStage l -> started(index, ctx.spawn(StageActor.create(name, l.loader(), next, ctx.getSelf()), name + "-p" + placement,
                    DispatcherSelector.blocking()));
            case RemoteStage r -> ctx.ask(NodeAgent.StageStarted.class, r.node(), STAGE_START_TIMEOUT,
                    replyTo -> new NodeAgent.StartStage(r.spec(), name, name + "-p" + now, r.options(), r.kvBytesGpu(), next, ctx.getSelf(), replyTo),
                    (reply, failure) -> new StageStarted(now, index, reply == null ? null : reply.stage(),
                            failure == null ? null : "its member did not start it: " + failure.getMessage()));
        }
    }

    private void started(int index, ActorRef<StageActor.Command> stage) {
        getContext().watchWith(stage, new StageTerminated(placement, index, stage));
        starting.addFirst(stage);
        startStage(index - 1, stage);
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Submit.class, this::onSubmit)
                .onMessage(Cancel.class, c -> {
                    scheduler.cancel(c.jobId());
                    return schedule();
                })
                .onMessage(StepDone.class, d -> {
                    scheduler.completed(d.batchId(), d.head());
                    return schedule();
                })
                .onMessage(StepFailed.class, this::onStepFailed)
                .onMessage(StageLoadFailed.class, f -> {
                    lastFailure.put(f.stage(), "its reload failed: " + f.cause());
                    return this;
                })
                .onMessage(StageLost.class, this::onStageLost)
                .onMessage(Members.class, this::onMembers)
                .onMessage(MemberDescribed.class, this::onMemberDescribed)
                .onMessage(StageAnswered.class, this::onStageAnswered)
                .onMessage(StageTerminated.class, this::onStageTerminated)
                .onMessage(GetPlacement.class, g -> {
                    g.replyTo().tell(new Placement(settings.replanner().devices(), joinWaitOver ? List.of() : settings.replanner().awaitedMembers()));
                    return this;
                })
                .onMessage(RejoinDeadline.class, d -> {
                    if (!awaitedBack.remove(d.member())) {
                        return this;
                    }
                    settings.replanner().memberLeft(d.member());
                    return placeAgain(d.member() + " did not return within " + settings.replanner().rejoinWait().toSeconds() + " s");
                })
                .onMessage(JoinDeadline.class, d -> {
                    joinWaitOver = true;
                    if (stagesPlaced() || !settings.replanner().anyMemberJoined()) {
                        return this;
                    }
                    getContext().getLog().warn("placing over the members that joined; not joined: {}",
                            String.join(", ", settings.replanner().awaitedMembers()));
                    return placeAgain(null);
                })
                .onMessage(Place.class, p -> {
                    replace(p.stages());
                    return this;
                })
                .onMessage(StageStarted.class, st -> {
                    if (st.placement() != placement) {
                        // a placement since replaced
                        if (st.stage() != null) {
                            st.stage().tell(new StageActor.Stop());
                        }
                        return this;
                    }
                    if (st.stage() == null) {
                        lastFailure.put(StageActor.nameOf(st.index()), st.failure());
                        return onStageLost(new StageLost(StageActor.nameOf(st.index())));
                    }
                    started(st.index(), st.stage());
                    return schedule();
                })
                .onMessage(LimitLive.class, l -> {
                    scheduler.limit(new Scheduler.Limits(scheduler.limits().maxRows(), Math.max(1, l.sequences())));
                    getContext().getLog().debug("at most {} live sequences ({})", l.sequences(), l.why());
                    return schedule();
                })
                .onMessage(GetLimits.class, g -> {
                    g.replyTo().tell(new Limits(scheduler.limits().maxRows(), scheduler.limits().maxLive(), List.copyOf(replans)));
                    return this;
                })
                .onMessage(GetLoad.class, g -> {
                    g.replyTo().tell(new Load(scheduler.liveSequences(), scheduler.waitingJobs(), stageRestarts, replacements, replayedSequences));
                    return this;
                })
                .onMessage(GetStages.class, g -> {
                    g.replyTo().tell(new Stages(stages == null ? List.of() : stages));
                    return this;
                })
                .build();
    }

    private Behavior<Command> onSubmit(Submit s) {
        JobRequest r = s.request();
        if (lost != null) {
            s.replyTo().tell(failed(r.getJobId(), Failed.Code.INTERNAL, lost));
            return this;
        }
        int[] prompt;
        SamplingParams params;
        try {
            prompt = promptOf(r);
            // the submitter hears what is wrong with its prompt, not where the server keeps the model
            Generator.problem(settings.config(), prompt).ifPresent(problem -> {
                throw new ConvoyException(problem);
            });
            params = JobSampling.fromProto(r.getSampling(), settings.eosTokenIds());
        } catch (ConvoyException | IllegalArgumentException e) {
            s.replyTo().tell(failed(r.getJobId(), Failed.Code.INVALID_REQUEST, e.getMessage()));
            return this;
        }
        if (clients.containsKey(r.getJobId())) {
            s.replyTo().tell(failed(r.getJobId(), Failed.Code.INVALID_REQUEST, "a job with id " + r.getJobId() + " is already running"));
            return this;
        }
        s.replyTo().tell(JobEvent.newBuilder().setJobId(r.getJobId()).setAccepted(Accepted.newBuilder().setPromptTokens(prompt.length)).build());
        clients.put(r.getJobId(), new Client(s.replyTo(), settings.tokenizer() == null ? null : settings.tokenizer().streamDecoder(true)));
        scheduler.submit(new Scheduler.Job(r.getJobId(), prompt, params, r.getPriority(), r.getPromptLogits()));
        return schedule();
    }

    private int[] promptOf(JobRequest r) {
        if (r.hasTokenIds()) {
            return r.getTokenIds().getIdsList().stream().mapToInt(Integer::intValue).toArray();
        }
        if (settings.tokenizer() == null) {
            throw new ConvoyException("the model has no tokenizer.json: send token ids");
        }
        return settings.tokenizer().encode(r.getText(), true);
    }

    /** Sends what the scheduler has ready to the first stage. */
    private Behavior<Command> schedule() {
        if (lost == null && stages != null) {
            for (MicroBatch batch : scheduler.schedule()) {
                stages.getFirst().tell(new StageActor.Run(batch));
            }
        }
        return this;
    }

    /** The scheduler's events as each job's protocol events. */
    private final class JobEvents implements Scheduler.Events {
        @Override
        public void promptLogits(String job, float[][] rows) {
            PromptLogits.Builder logits = PromptLogits.newBuilder().setRows(rows.length).setCols(rows[0].length);
            for (float[] row : rows) {
                for (float v : row) {
                    logits.addValues(v);
                }
            }
            clients.get(job).replyTo().tell(JobEvent.newBuilder().setJobId(job).setPromptLogits(logits).build());
        }

        @Override
        public void token(String job, int token) {
            Client c = clients.get(job);
            String text = c.decoder() == null ? "" : c.decoder().next(token);
            c.replyTo().tell(JobEvent.newBuilder().setJobId(job).setTokens(Tokens.newBuilder().addIds(token).setText(text)).build());
        }

        @Override
        public void finished(String job, SequenceState state) {
            Done.Reason reason = switch (state.finished()) {
                case STOP_TOKEN -> Done.Reason.STOP_TOKEN;
                case MAX_NEW_TOKENS -> Done.Reason.MAX_NEW_TOKENS;
                case CONTEXT_FULL -> Done.Reason.CONTEXT_FULL;
                case CANCELLED -> Done.Reason.CANCELLED;
            };
            clients.remove(job).replyTo().tell(JobEvent.newBuilder().setJobId(job).setDone(Done.newBuilder().setReason(reason)
                    .setUsage(Usage.newBuilder().setPromptTokens(state.promptLength()).setGeneratedTokens(state.generated()))).build());
        }

        @Override
        public void failed(String job, Scheduler.Failure failure, String reason) {
            Failed.Code code = switch (failure) {
                case INTERNAL -> Failed.Code.INTERNAL;
                case DOES_NOT_FIT -> Failed.Code.DOES_NOT_FIT;
            };
            clients.remove(job).replyTo().tell(Coordinator.failed(job, code, reason));
        }
    }

    private static JobEvent failed(String jobId, Failed.Code code, String reason) {
        return JobEvent.newBuilder().setJobId(jobId).setFailed(Failed.newBuilder().setCode(code).setMessage(reason)).build();
    }

    /**
     * The model is planned again over the devices left and the live sequences replayed there; when no plan fits (or
     * nothing can re-plan), every job, running or waiting, ends now with the reason, and later ones are refused.
     */
    private Behavior<Command> onStageLost(StageLost s) {
        int index = StageActor.indexOf(s.stage());
        String member = settings.replanner().clustered() ? settings.replanner().memberOf(index) : "";
        if (!member.isEmpty() && settings.replanner().rejoinWait().isPositive()) {
            return awaitBack(member);
        }
        return stageLost(s);
    }

    private Behavior<Command> onStageTerminated(StageTerminated t) {
        if (t.placement() != placement) {
            // a stage of a placement since replaced
            return this;
        }
        String name = StageActor.nameOf(t.index());
        if (!lastFailure.containsKey(name) && sources.get(t.index()) instanceof RemoteStage r && agents.containsKey(r.node())) {
            // a member that came back at its old address hears of its old self's removal as its new stages stopping: ask them
            getContext().ask(StageActor.StageStats.class, t.stage(), STAGE_ANSWER_TIMEOUT, StageActor.Stats::new,
                    (stats, failure) -> new StageAnswered(t.placement(), t.index(), stats != null, t.stage()));
            return this;
        }
        return onStageLost(new StageLost(name));
    }

    /**
     * A member holding stages left: the steps stall while it is waited for; if it returns the model is placed over it
     * again, else over the members left at the deadline, and either way every live sequence is replayed.
     */
    private Behavior<Command> awaitBack(String member) {
        if (awaitedBack.add(member)) {
            getContext().getLog().warn("{} left the cluster: waiting up to {} s for it to return before placing the model without it", member,
                    settings.replanner().rejoinWait().toSeconds());
            getContext().scheduleOnce(settings.replanner().rejoinWait(), getContext().getSelf(), new RejoinDeadline(member));
        }
        return this;
    }

    private Behavior<Command> onStageAnswered(StageAnswered a) {
        if (a.placement() != placement) {
            return this;
        }
        if (a.alive()) {
            getContext().watchWith(a.stage(), new StageTerminated(a.placement(), a.index(), a.stage()));
            return this;
        }
        return onStageLost(new StageLost(StageActor.nameOf(a.index())));
    }

    private Behavior<Command> stageLost(StageLost s) {
        String why = s.stage() + " was lost: " + lastFailure.getOrDefault(s.stage(), "it stopped");
        lastFailure.clear();
        failures.clear();
        if (settings.replanner().canReplan()) {
            try {
                replace(settings.replanner().without(StageActor.indexOf(s.stage())));
                getContext().getLog().warn("{}; re-planned over the devices left: {}; replaying {} live sequences", why,
                        settings.replanner().describe(), scheduler.liveSequences());
                return schedule();
            } catch (ConvoyException e) {
                why += "; no plan fits the devices left: " + e.getMessage();
            }
        }
        return endEveryJob(why + "; the pipeline cannot run");
    }

    /** Every job, running or waiting, ends with the reason; later ones are refused with it. */
    private Behavior<Command> endEveryJob(String why) {
        lost = why;
        getContext().getLog().error("{}", lost);
        scheduler.failAll(Scheduler.Failure.INTERNAL, lost);
        return this;
    }

    /** New stage actors in place of the old ones; every live sequence starts again from its tokens. */
    private void replace(List<StageSource> pipeline) {
        for (ActorRef<StageActor.Command> old : starting) {
            getContext().unwatch(old);
            if (getContext().getChild(old.path().name()).isPresent()) {
                getContext().stop(old);
            } else {
                old.tell(new StageActor.Stop());
            }
        }
        if (!sources.isEmpty()) {
            replacements++;
        }
        placement++;
        replayedSequences += scheduler.liveSequences();
        scheduler.replaced(pipeline.size());
        startStages(pipeline);
    }

    /** New agents are asked what they offer; a member whose agent is gone leaves the plan, which is placed again when it used it. */
    private Behavior<Command> onMembers(Members m) {
        for (ActorRef<NodeAgent.Command> agent : m.agents()) {
            if (!agents.containsKey(agent)) {
                agents.put(agent, "");
                getContext().ask(NodeAgent.MemberInfo.class, agent, STAGE_START_TIMEOUT, NodeAgent.Describe::new,
                        (info, failure) -> new MemberDescribed(agent, info));
            }
        }
        for (var gone : new ArrayList<>(agents.entrySet())) {
            if (!m.agents().contains(gone.getKey())) {
                agents.remove(gone.getKey());
                String member = gone.getValue();
                if (!member.isEmpty() && settings.replanner().memberLeft(member) && stagesPlaced()) {
                    return settings.replanner().rejoinWait().isPositive() ? awaitBack(member) : placeAgain(member + " left the cluster");
                }
            }
        }
        return this;
    }

    private Behavior<Command> onMemberDescribed(MemberDescribed d) {
        if (d.info() == null || !agents.containsKey(d.agent())) {
            agents.remove(d.agent());
            return this;
        }
        Replanner replanner = settings.replanner();
        String refused = replanner.refusal(d.info());
        if (refused != null) {
            getContext().getLog().warn("{}", refused);
            return this;
        }
        agents.put(d.agent(), d.info().member());
        replanner.memberJoined(d.info());
        awaitedBack.remove(d.info().member());
        if (replanner.awaitedMembers().isEmpty() || joinWaitOver) {
            return placeAgain(stagesPlaced() ? d.info().member() + " joined the cluster" : null);
        }
        return this;
    }

    /** Whether the model has been placed (a cluster's coordinator places it once every member has joined). */
    private boolean stagesPlaced() {
        return !sources.isEmpty();
    }

    /** The model placed over the members here now, every live sequence replayed; {@code why} null for the first placement. */
    private Behavior<Command> placeAgain(String why) {
        try {
            replace(settings.replanner().overMembersHere());
            if (why != null) {
                getContext().getLog().warn("{}: placed again: {}; replaying {} live sequences", why, settings.replanner().describe(),
                        scheduler.liveSequences());
            } else {
                getContext().getLog().info("placed: {}", settings.replanner().describe());
            }
            return schedule();
        } catch (ConvoyException e) {
            if (why == null) {
                // a first placement waits on for more members rather than failing the jobs waiting for it
                getContext().getLog().warn("no plan fits the members here yet: {}", e.getMessage());
                return this;
            }
            return endEveryJob(why + ": no plan fits the members here: " + e.getMessage());
        }
    }

    /** A restart: the step again, every sequence from its tokens; out-of-memory: new limits; anything else: the step's jobs fail. */
    private Behavior<Command> onStepFailed(StepFailed f) {
        if (f.restarted()) {
            int times = failures.merge(f.stage(), 1, Integer::sum);
            lastFailure.put(f.stage(), "it failed " + times + (times == 1 ? " time" : " times") + " (restarted " + StageActor.MAX_RESTARTS
                    + " times at most), last with " + f.cause());
        }
        if (!scheduler.awaits(f.batchId())) {
            getContext().getLog().warn("{} failed a batch of changes only: {}", f.stage(), f.cause().toString());
            return this;
        }
        if (f.restarted()) {
            stageRestarts++;
            replayedSequences += scheduler.liveSequences();
            scheduler.cachesLost();
            scheduler.retry(f.batchId(), true);
            getContext().getLog().warn("{} restarted; replaying {} live sequences from their tokens", f.stage(), scheduler.liveSequences());
        } else if (f.cause() instanceof UnknownSequenceException) {
            scheduler.retry(f.batchId(), true);
        } else if (f.cause() instanceof DeviceOutOfMemoryException oom) {
            return outOfMemory(f, oom);
        } else {
            scheduler.fail(f.batchId(), Scheduler.Failure.INTERNAL, f.stage() + " failed: " + f.cause().getMessage());
        }
        return schedule();
    }

    /**
     * Asks the Planner what fits the memory the device has for this process now, and runs on within it: fewer live
     * sequences (the newest new ones back to the queue) or fewer rows a step. When the weights themselves no longer
     * fit, the model is placed again with that device holding less.
     */
    private Behavior<Command> outOfMemory(StepFailed f, DeviceOutOfMemoryException oom) {
        if (f.batchId() < limitsSince) {
            // sent before the last change of limits, whose freed memory it did not see yet: it runs again as it was
            scheduler.retry(f.batchId(), false);
            return schedule();
        }
        int stage = StageActor.indexOf(f.stage());
        Replanner replanner = settings.replanner();
        // what the device has for this process now, where it says; else what it was planned with, less what it lacked
        long bytes = oom.held() >= 0 && oom.free() != -1 ? oom.held() + oom.free() : replanner.budget(stage) - oom.requested();
        Scheduler.Limits limits = scheduler.limits();
        Planner.Fit before = new Planner.Fit(limits.maxLive(), settings.config().maxPositions(), limits.maxRows());
        Planner.Fit after = replanner.fit(stage, before, bytes);
        boolean kv = oom.use() == DeviceOutOfMemoryException.Use.KV_CACHE;
        int live = scheduler.liveSequences();
        int rows = scheduler.rowsOf(f.batchId());
        // a shorter context would cut jobs short: the Planner's limits hold only while the context is kept
        if (after != null && after.maxContext() == before.maxContext()) {
            int back = kv || after.maxBatch() < live ? scheduler.preempt(f.batchId(), after.maxBatch()) : 0;
            int maxRows = Math.min(limits.maxRows(), after.stepRows());
            if (!kv && back == 0 && maxRows >= rows) {
                // the Planner's figure was not smaller than what failed, and nothing was freed: half of it
                maxRows = rows / 2;
            }
            if (back > 0 || (!kv && maxRows >= 1 && maxRows < rows)) {
                scheduler.retry(f.batchId(), false);
                return narrowed(f, oom, bytes, before, after, new Scheduler.Limits(maxRows, Math.min(after.maxBatch(), live - back)),
                        back + " sequences back in the queue");
            }
        }
        if (replanner.canReplan()) {
            return replaceForLessMemory(f.stage(), oom, bytes);
        }
        scheduler.fail(f.batchId(), Scheduler.Failure.DOES_NOT_FIT, f.stage() + " failed: " + oom.getMessage());
        return schedule();
    }

    private Behavior<Command> narrowed(StepFailed f, DeviceOutOfMemoryException oom, long bytes, Planner.Fit before, Planner.Fit after,
                                       Scheduler.Limits now, String what) {
        MemoryReplan replan = new MemoryReplan(f.stage(), bytes, before, after);
        replans.add(replan);
        scheduler.limit(now);
        limitsSince = scheduler.nextBatchId();
        getContext().getLog().warn("{}: out of {} ({}); planned again: {}; now at most {} live sequences and {} rows a micro-batch; {}",
                f.stage(), oom.use() == DeviceOutOfMemoryException.Use.KV_CACHE ? "KV cache memory" : "activation memory", oom.getMessage(),
                replan, now.maxLive(), now.maxRows(), what);
        return schedule();
    }

    /**
     * Plans the model again with the stage's device holding only {@code bytes}, and replays every live sequence on the
     * new stages; when no plan fits, every job ends with the reason.
     */
    private Behavior<Command> replaceForLessMemory(String stage, DeviceOutOfMemoryException oom, long bytes) {
        String before = settings.replanner().describe();
        try {
            replace(settings.replanner().withLessMemory(StageActor.indexOf(stage), bytes));
            getContext().getLog().warn("{}: out of memory with nothing left to make smaller ({}); re-planned for {} bytes there: "
                    + "{} -> {}; replaying {} live sequences", stage, oom.getMessage(), bytes, before, settings.replanner().describe(),
                    scheduler.liveSequences());
            return schedule();
        } catch (ConvoyException e) {
            return endEveryJob(stage + " ran out of memory with nothing left to make smaller (" + oom.getMessage()
                    + "); no plan fits the memory left: " + e.getMessage());
        }
    }
}
