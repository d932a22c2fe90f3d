package ai.convoy.actors.pipeline;

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
import ai.convoy.runtime.generate.SequenceState;
import ai.convoy.runtime.model.HeadOutput;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.NonFiniteLogitsException;
import ai.convoy.runtime.pipeline.MicroBatch;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.pipeline.SequenceChanges;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.tokenizer.StreamDecoder;
import ai.convoy.runtime.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * Admits jobs, batches them continuously and streams their events. The live sequences are split into as many
 * groups as there are stages; each group is one micro-batch in flight, so every stage has work: when a group's
 * logits come back, its sequences are sampled, finished ones leave (their KV cache closed), queued jobs join (their
 * prompts prefilled in the same micro-batch), and the group goes round again.
 */
public final class Coordinator extends AbstractBehavior<Coordinator.Command> {

    public sealed interface Command permits Submit, Cancel, StepDone, StepFailed, StageLoadFailed, StageLost, GetStages, GetLimits,
            LimitLive {
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

    /** The batch limits now: rows per micro-batch and live sequences. */
    public record Limits(int maxRows, int maxLive) {
    }

    public record GetLimits(ActorRef<Limits> replyTo) implements Command {
    }

    public record GetStages(ActorRef<List<ActorRef<StageActor.Command>>> replyTo) implements Command {
    }

    /**
     * What the coordinator needs to know of the model; {@code replanner} places it again when a stage is lost (null:
     * a lost stage ends every job).
     */
    public record Settings(ModelConfig config, Tokenizer tokenizer, List<Integer> eosTokenIds, int maxBatch, Replanner replanner) {
    }

    private static final class Job {
        final JobRequest request;
        final ActorRef<JobEvent> replyTo;
        final int[] prompt;
        final SamplingParams params;
        final long order;

        Job(JobRequest request, ActorRef<JobEvent> replyTo, int[] prompt, SamplingParams params, long order) {
            this.request = request;
            this.replyTo = replyTo;
            this.prompt = prompt;
            this.params = params;
            this.order = order;
        }
    }

    private static final class Live {
        final Job job;
        final long sequence;
        final SequenceState state;
        final StreamDecoder decoder;
        // whether every stage holds this sequence's KV cache for all its tokens but the last
        boolean cached;
        boolean cancelled;
        // the prompt positions' logits while the prompt is prefilled, when the job asked for them; null otherwise
        List<float[]> promptLogits;

        Live(Job job, long sequence, SequenceState state, StreamDecoder decoder) {
            this.job = job;
            this.sequence = sequence;
            this.state = state;
            this.decoder = decoder;
            this.promptLogits = job.request.getPromptLogits() ? new ArrayList<>() : null;
        }

        boolean collectsPromptLogits() {
            return promptLogits != null && state.generated() == 0;
        }
    }

    /** A sequence's row of a step's head output. */
    private record Next(HeadOutput head, int row) {
    }

    /** One row of a step: a prompt position or the next decode position of a sequence. */
    private record Row(Live owner, int position, int token, boolean wantsLogits) {
    }

    private static final class Group {
        final List<Live> members = new ArrayList<>();
        final List<Long> toClose = new ArrayList<>();
        final java.util.ArrayDeque<MicroBatch> parts = new java.util.ArrayDeque<>();
        final List<List<Live>> partOwners = new ArrayList<>();
        final Map<Live, Next> next = new HashMap<>();
        List<Live> currentOwners = List.of();
        int currentRows;
        long batchId = -1;
        long sentInEpoch;
        boolean inFlight;
    }

    private final Settings settings;
    private final BatchLimits limits;
    private List<ActorRef<StageActor.Command>> stages;
    private Group[] groups;
    // stage actors get new names in each placement; their display names stay stage-0, stage-1, ...
    private int placement;
    private final PriorityQueue<Job> queue = new PriorityQueue<>(
            Comparator.comparingInt((Job j) -> -j.request.getPriority()).thenComparingLong(j -> j.order));
    private final Map<String, Live> live = new HashMap<>();
    private long nextSequence;
    // each stage's last failure, for the reason given when it is lost
    private final Map<String, String> lastFailure = new HashMap<>();
    private final Map<String, Integer> failures = new HashMap<>();
    // why the pipeline cannot run any more, once a stage is lost; null while every stage runs
    private String lost;
    // counts stage restarts: a step sent before one may have filled a cache that is gone
    private long epoch;
    private long nextBatch;
    private long submitted;

    public static Behavior<Command> create(Settings settings, List<java.util.function.Supplier<PipelineStage>> stages) {
        return Behaviors.setup(ctx -> new Coordinator(ctx, settings, stages));
    }

    private Coordinator(ActorContext<Command> ctx, Settings settings, List<java.util.function.Supplier<PipelineStage>> pipeline) {
        super(ctx);
        this.settings = settings;
        // steps as large as the plan made room for: long prompts go in chunks
        this.limits = new BatchLimits(ctx.getLog(), Planner.stepRows(settings.maxBatch(), settings.config().maxPositions()), settings.maxBatch());
        spawnStages(pipeline);
    }

    /** Spawns a stage actor per stage and a micro-batch group for each; every stage is watched. */
    private void spawnStages(List<java.util.function.Supplier<PipelineStage>> pipeline) {
        ActorContext<Command> ctx = getContext();
        // spawned last to first, each knowing the next; stage actors block on compute, so they get their own threads
        List<ActorRef<StageActor.Command>> refs = new ArrayList<>();
        ActorRef<StageActor.Command> next = null;
        for (int i = pipeline.size() - 1; i >= 0; i--) {
            String name = StageActor.nameOf(i);
            next = ctx.spawn(StageActor.create(name, pipeline.get(i), next, ctx.getSelf()), name + "-p" + placement, DispatcherSelector.blocking());
            ctx.watchWith(next, new StageLost(name));
            refs.addFirst(next);
        }
        this.stages = List.copyOf(refs);
        this.groups = new Group[pipeline.size()];
        for (int i = 0; i < groups.length; i++) {
            groups[i] = new Group();
        }
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Submit.class, this::onSubmit)
                .onMessage(Cancel.class, this::onCancel)
                .onMessage(StepDone.class, this::onStepDone)
                .onMessage(StepFailed.class, this::onStepFailed)
                .onMessage(StageLoadFailed.class, f -> {
                    lastFailure.put(f.stage(), "its reload failed: " + f.cause());
                    return this;
                })
                .onMessage(StageLost.class, this::onStageLost)
                .onMessage(LimitLive.class, l -> {
                    limits.limitLive(l.sequences(), l.why());
                    schedule();
                    return this;
                })
                .onMessage(GetLimits.class, g -> {
                    g.replyTo().tell(new Limits(limits.maxRows(), limits.maxLive()));
                    return this;
                })
                .onMessage(GetStages.class, g -> {
                    g.replyTo().tell(stages);
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
            Generator.validate(settings.config(), prompt);
            params = JobSampling.fromProto(r.getSampling(), settings.eosTokenIds());
        } catch (ConvoyException | IllegalArgumentException e) {
            s.replyTo().tell(failed(r.getJobId(), Failed.Code.INVALID_REQUEST, e.getMessage()));
            return this;
        }
        s.replyTo().tell(JobEvent.newBuilder().setJobId(r.getJobId()).setAccepted(Accepted.newBuilder().setPromptTokens(prompt.length)).build());
        queue.add(new Job(r, s.replyTo(), prompt, params, submitted++));
        schedule();
        return this;
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

    private Behavior<Command> onCancel(Cancel c) {
        if (queue.removeIf(j -> j.request.getJobId().equals(c.jobId()))) {
            return this;
        }
        Live l = live.remove(c.jobId());
        if (l == null) {
            return this;
        }
        l.cancelled = true;
        l.state.finish(Generator.FinishReason.CANCELLED);
        sendDone(l);
        for (Group g : groups) {
            g.members.remove(l);
        }
        // free its cache now: a batch of changes only, behind any rows of it still in flight
        stages.getFirst().tell(new StageActor.Run(MicroBatch.changesOnly(nextBatch++, SequenceChanges.closing(l.sequence))));
        schedule();
        return this;
    }

    private Group inFlight(long batchId) {
        for (Group g : groups) {
            if (g.inFlight && g.batchId == batchId) {
                return g;
            }
        }
        return null;
    }

    private Behavior<Command> onStepDone(StepDone d) {
        Group g = inFlight(d.batchId());
        if (g != null) {
            for (int i = 0; i < g.currentOwners.size(); i++) {
                Live owner = g.currentOwners.get(i);
                g.next.put(owner, new Next(d.head(), i));
                if (owner.collectsPromptLogits()) {
                    owner.promptLogits.add(d.head().logits()[i]);
                }
            }
            if (!g.parts.isEmpty()) {
                sendNextPart(g);
                return this;
            }
            g.inFlight = false;
            for (Live l : new ArrayList<>(g.members)) {
                Next next = g.next.get(l);
                if (next != null && !l.cancelled) {
                    l.cached = g.sentInEpoch == epoch;
                    accept(g, l, next);
                }
            }
            g.next.clear();
        }
        schedule();
        return this;
    }

    /**
     * The model is planned again over the devices left and the live sequences replayed there; when no plan fits (or
     * nothing can re-plan), every job, running or waiting, ends now with the reason, and later ones are refused.
     */
    private Behavior<Command> onStageLost(StageLost s) {
        String why = s.stage() + " was lost: " + lastFailure.getOrDefault(s.stage(), "it stopped");
        lastFailure.clear();
        failures.clear();
        if (settings.replanner() != null) {
            try {
                replace(settings.replanner().without(StageActor.indexOf(s.stage())));
                getContext().getLog().warn("{}; re-planned over the devices left: {}; replaying {} live sequences", why,
                        settings.replanner().describe(), live.size());
                schedule();
                return this;
            } catch (ConvoyException e) {
                why += "; no plan fits the devices left: " + e.getMessage();
            }
        }
        lost = why + "; the pipeline cannot run";
        getContext().getLog().error("{}", lost);
        endEveryJob();
        return this;
    }

    /** Every job, running or waiting, ends with the reason the pipeline was lost. */
    private void endEveryJob() {
        for (Live l : live.values()) {
            l.job.replyTo.tell(failed(l.job.request.getJobId(), Failed.Code.INTERNAL, lost));
        }
        live.clear();
        for (Job j : queue) {
            j.replyTo.tell(failed(j.request.getJobId(), Failed.Code.INTERNAL, lost));
        }
        queue.clear();
        for (Group g : groups) {
            g.members.clear();
            g.parts.clear();
            g.next.clear();
            g.inFlight = false;
        }
    }

    /**
     * Plans the model again with the stage's device holding what it lacked less, and replays every live sequence on
     * the new stages; when no plan fits, every job ends with the reason.
     */
    private Behavior<Command> replaceForLessMemory(String stage, ai.convoy.kernels.DeviceOutOfMemoryException oom) {
        int index = StageActor.indexOf(stage);
        // what the device has for this process now, where it says; else what it was planned with, less what it lacked
        long budget = oom.held() >= 0 && oom.free() != -1 ? oom.held() + oom.free()
                : settings.replanner().specs().get(index).device().budget() - oom.requested();
        String before = settings.replanner().describe();
        try {
            replace(settings.replanner().withLessMemory(index, budget));
            getContext().getLog().warn("{}: out of memory with nothing left to make smaller ({}); re-planned for {} bytes there: "
                    + "{} -> {}; replaying {} live sequences", stage, oom.getMessage(), budget, before, settings.replanner().describe(), live.size());
            schedule();
        } catch (ConvoyException e) {
            lost = stage + " ran out of memory with nothing left to make smaller (" + oom.getMessage() + "); no plan fits the memory left: "
                    + e.getMessage();
            getContext().getLog().error("{}", lost);
            endEveryJob();
        }
        return this;
    }

    /** New stage actors in place of the old ones; every live sequence starts again from its tokens. */
    private void replace(List<java.util.function.Supplier<PipelineStage>> pipeline) {
        for (ActorRef<StageActor.Command> old : stages) {
            getContext().unwatch(old);
            getContext().stop(old);
        }
        List<Live> members = new ArrayList<>();
        for (Group g : groups) {
            members.addAll(g.members);
        }
        placement++;
        epoch++;
        spawnStages(pipeline);
        for (int i = 0; i < members.size(); i++) {
            Live l = members.get(i);
            l.cached = false;
            groups[i % groups.length].members.add(l);
        }
    }

    private static JobEvent failed(String jobId, Failed.Code code, String reason) {
        return JobEvent.newBuilder().setJobId(jobId).setFailed(Failed.newBuilder().setCode(code).setMessage(reason)).build();
    }

    /** Out of memory: new limits and the step again; anything else: the step's jobs fail, the rest go on. */
    private Behavior<Command> onStepFailed(StepFailed f) {
        if (f.restarted()) {
            int times = failures.merge(f.stage(), 1, Integer::sum);
            lastFailure.put(f.stage(), "it failed " + times + (times == 1 ? " time" : " times") + " (restarted " + StageActor.MAX_RESTARTS
                    + " times at most), last with " + f.cause());
        }
        Group g = inFlight(f.batchId());
        if (g == null) {
            getContext().getLog().warn("{} failed a batch of changes only: {}", f.stage(), f.cause().toString());
            return this;
        }
        g.inFlight = false;
        g.parts.clear();
        g.next.clear();
        boolean retry = false;
        if (f.restarted()) {
            // the stage lost every cache: every live sequence is replayed from its tokens in its group's next step
            epoch++;
            for (Group other : groups) {
                other.members.forEach(l -> l.cached = false);
            }
            getContext().getLog().warn("{} restarted; replaying {} live sequences from their tokens", f.stage(), live.size());
            retry = true;
        } else if (f.cause() instanceof ai.convoy.runtime.pipeline.UnknownSequenceException) {
            g.members.forEach(l -> l.cached = false);
            retry = true;
        } else if (f.cause() instanceof ai.convoy.kernels.DeviceOutOfMemoryException oom) {
            if (oom.use() == ai.convoy.kernels.DeviceOutOfMemoryException.Use.KV_CACHE) {
                List<Live> fresh = g.members.stream().filter(l -> !l.cached && l.state.generated() == 0).toList();
                // the newest half of this step's new sequences go back to the queue
                List<Live> evict = fresh.subList(fresh.size() / 2, fresh.size());
                retry = !evict.isEmpty() && limits.kvCacheOutOfMemory(f.stage(), live.size(), evict.size(), oom.getMessage());
                if (retry) {
                    for (Live l : evict) {
                        g.members.remove(l);
                        live.remove(l.job.request.getJobId());
                        g.toClose.add(l.sequence);
                        queue.add(l.job);
                    }
                }
            } else {
                retry = limits.activationsOutOfMemory(f.stage(), g.currentRows, oom.getMessage());
            }
            if (!retry && settings.replanner() != null) {
                // nothing left to make smaller: the device has less memory than it was planned with; place the model again
                return replaceForLessMemory(f.stage(), oom);
            }
        }
        if (!retry) {
            Failed.Code code = f.cause() instanceof ai.convoy.kernels.DeviceOutOfMemoryException ? Failed.Code.DOES_NOT_FIT : Failed.Code.INTERNAL;
            for (Live l : new ArrayList<>(g.members)) {
                l.job.replyTo.tell(failed(l.job.request.getJobId(), code, f.stage() + " failed: " + f.cause().getMessage()));
                live.remove(l.job.request.getJobId());
                g.toClose.add(l.sequence);
            }
            g.members.clear();
        }
        schedule();
        return this;
    }

    private void accept(Group g, Live l, Next next) {
        if (l.collectsPromptLogits()) {
            sendPromptLogits(l);
        }
        int token;
        try {
            token = l.state.accept(next.head(), next.row());
        } catch (NonFiniteLogitsException e) {
            l.job.replyTo.tell(failed(l.job.request.getJobId(), Failed.Code.INTERNAL, e.getMessage()));
            live.remove(l.job.request.getJobId());
            g.members.remove(l);
            g.toClose.add(l.sequence);
            return;
        }
        if (token >= 0) {
            String text = l.decoder == null ? "" : l.decoder.next(token);
            l.job.replyTo.tell(JobEvent.newBuilder().setJobId(l.job.request.getJobId())
                    .setTokens(Tokens.newBuilder().addIds(token).setText(text)).build());
        }
        if (l.state.finished() != null) {
            sendDone(l);
            live.remove(l.job.request.getJobId());
            g.members.remove(l);
            g.toClose.add(l.sequence);
        }
    }

    private void sendPromptLogits(Live l) {
        int cols = l.promptLogits.getFirst().length;
        PromptLogits.Builder logits = PromptLogits.newBuilder().setRows(l.promptLogits.size()).setCols(cols);
        for (float[] row : l.promptLogits) {
            for (float v : row) {
                logits.addValues(v);
            }
        }
        l.promptLogits = null;
        l.job.replyTo.tell(JobEvent.newBuilder().setJobId(l.job.request.getJobId()).setPromptLogits(logits).build());
    }

    private void sendDone(Live l) {
        Done.Reason reason = switch (l.state.finished()) {
            case STOP_TOKEN -> Done.Reason.STOP_TOKEN;
            case MAX_NEW_TOKENS -> Done.Reason.MAX_NEW_TOKENS;
            case CONTEXT_FULL -> Done.Reason.CONTEXT_FULL;
            case CANCELLED -> Done.Reason.CANCELLED;
        };
        l.job.replyTo.tell(JobEvent.newBuilder().setJobId(l.job.request.getJobId()).setDone(Done.newBuilder().setReason(reason)
                .setUsage(Usage.newBuilder().setPromptTokens(l.state.promptLength()).setGeneratedTokens(l.state.generated()))).build());
    }

    /** Every group not in flight takes in queued jobs while the batch has room, and goes round if it has work. */
    private void schedule() {
        if (lost != null) {
            return;
        }
        int maxLive = limits.maxLive();
        int perGroup = Math.max(1, (maxLive + groups.length - 1) / groups.length);
        for (Group g : groups) {
            if (g.inFlight) {
                continue;
            }
            while (!queue.isEmpty() && g.members.size() < perGroup && live.size() < maxLive) {
                Job job = queue.poll();
                Live l = new Live(job, nextSequence++, new SequenceState(job.prompt, job.params, settings.config().maxPositions()),
                        settings.tokenizer() == null ? null : settings.tokenizer().streamDecoder(true));
                g.members.add(l);
                live.put(job.request.getJobId(), l);
            }
            send(g);
        }
    }

    /** Builds the group's step (prefill rows of new sequences, one decode row of the others) and sends its first part. */
    private void send(Group g) {
        List<Long> open = new ArrayList<>();
        List<Integer> capacities = new ArrayList<>();
        List<Row> rows = new ArrayList<>();
        for (Live l : g.members) {
            if (!l.cached) {
                // a new sequence's prompt, or a replay of every token so far; the last row's logits are the next step's
                open.add(l.sequence);
                capacities.add(l.state.capacity());
                boolean everyRow = l.collectsPromptLogits();
                if (everyRow) {
                    l.promptLogits.clear();
                }
                for (int p = 0; p < l.state.length(); p++) {
                    rows.add(new Row(l, p, l.state.token(p), everyRow || p == l.state.length() - 1));
                }
            } else {
                rows.add(new Row(l, l.state.length() - 1, l.state.lastToken(), true));
            }
        }
        if (rows.isEmpty() && g.toClose.isEmpty()) {
            return;
        }
        SequenceChanges changes = new SequenceChanges(open.stream().mapToLong(Long::longValue).toArray(),
                capacities.stream().mapToInt(Integer::intValue).toArray(), g.toClose.stream().mapToLong(Long::longValue).toArray());
        g.toClose.clear();
        g.parts.clear();
        g.partOwners.clear();
        int limit = limits.maxRows();
        for (int from = 0; from == 0 || from < rows.size(); from += limit) {
            List<Row> part = rows.subList(from, Math.min(rows.size(), from + limit));
            g.parts.add(part(from == 0 ? changes : SequenceChanges.NONE, part));
            g.partOwners.add(part.stream().filter(Row::wantsLogits).map(Row::owner).toList());
        }
        g.inFlight = true;
        g.sentInEpoch = epoch;
        sendNextPart(g);
    }

    private MicroBatch part(SequenceChanges changes, List<Row> rows) {
        int[] logitRows = IntStream.range(0, rows.size()).filter(i -> rows.get(i).wantsLogits()).toArray();
        boolean[] devicePicks = new boolean[logitRows.length];
        for (int i = 0; i < logitRows.length; i++) {
            Live owner = rows.get(logitRows[i]).owner();
            devicePicks[i] = owner.state.picksArgmax() && !owner.collectsPromptLogits();
        }
        return new MicroBatch(-1, changes, rows.stream().mapToLong(r -> r.owner().sequence).toArray(),
                rows.stream().mapToInt(Row::position).toArray(), rows.stream().mapToInt(Row::token).toArray(), null, logitRows, devicePicks);
    }

    private void sendNextPart(Group g) {
        MicroBatch next = g.parts.poll();
        g.currentOwners = g.partOwners.removeFirst();
        g.currentRows = next.rows();
        g.batchId = nextBatch++;
        stages.getFirst().tell(new StageActor.Run(next.withId(g.batchId)));
    }
}
