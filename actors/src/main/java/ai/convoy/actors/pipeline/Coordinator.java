package ai.convoy.actors.pipeline;

import ai.convoy.proto.Accepted;
import ai.convoy.proto.Done;
import ai.convoy.proto.Failed;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.Tokens;
import ai.convoy.proto.Usage;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.generate.Generator;
import ai.convoy.runtime.generate.SamplingParams;
import ai.convoy.runtime.generate.SequenceState;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.pipeline.MicroBatch;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.pipeline.SequenceChanges;
import ai.convoy.runtime.tokenizer.StreamDecoder;
import ai.convoy.runtime.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.PriorityQueue;
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

    public sealed interface Command permits Submit, Cancel, StepDone, GetStages {
    }

    public record Submit(JobRequest request, ActorRef<JobEvent> replyTo) implements Command {
    }

    public record Cancel(String jobId) implements Command {
    }

    /** The last stage's logits for the logit rows of micro-batch {@code batchId}. */
    public record StepDone(long batchId, float[][] logits) implements Command {
    }

    public record GetStages(ActorRef<List<ActorRef<StageActor.Command>>> replyTo) implements Command {
    }

    /** What the coordinator needs to know of the model. */
    public record Settings(ModelConfig config, Tokenizer tokenizer, List<Integer> eosTokenIds, int maxBatch) {
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
        boolean prefilled;
        boolean cancelled;

        Live(Job job, long sequence, SequenceState state, StreamDecoder decoder) {
            this.job = job;
            this.sequence = sequence;
            this.state = state;
            this.decoder = decoder;
        }
    }

    private static final class Group {
        final List<Live> members = new ArrayList<>();
        final List<Long> toClose = new ArrayList<>();
        List<Live> rowOwners = List.of();
        long batchId = -1;
        boolean inFlight;
    }

    private final Settings settings;
    private final List<ActorRef<StageActor.Command>> stages;
    private final Group[] groups;
    private final PriorityQueue<Job> queue = new PriorityQueue<>(
            Comparator.comparingInt((Job j) -> -j.request.getPriority()).thenComparingLong(j -> j.order));
    private final Map<String, Live> live = new HashMap<>();
    private long nextSequence;
    private long nextBatch;
    private long submitted;

    public static Behavior<Command> create(Settings settings, List<PipelineStage> stages) {
        return Behaviors.setup(ctx -> new Coordinator(ctx, settings, stages));
    }

    private Coordinator(ActorContext<Command> ctx, Settings settings, List<PipelineStage> pipeline) {
        super(ctx);
        this.settings = settings;
        // spawned last to first, each knowing the next; stage actors block on compute, so they get their own threads
        List<ActorRef<StageActor.Command>> refs = new ArrayList<>();
        ActorRef<StageActor.Command> next = null;
        for (int i = pipeline.size() - 1; i >= 0; i--) {
            String name = "stage-" + i;
            next = ctx.spawn(StageActor.create(name, pipeline.get(i), next, ctx.getSelf()), name, DispatcherSelector.blocking());
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
                .onMessage(GetStages.class, g -> {
                    g.replyTo().tell(stages);
                    return this;
                })
                .build();
    }

    private Behavior<Command> onSubmit(Submit s) {
        JobRequest r = s.request();
        int[] prompt;
        SamplingParams params;
        try {
            prompt = promptOf(r);
            Generator.validate(settings.config(), prompt);
            params = samplingOf(r);
        } catch (ConvoyException | IllegalArgumentException e) {
            s.replyTo().tell(JobEvent.newBuilder().setJobId(r.getJobId())
                    .setFailed(Failed.newBuilder().setCode(Failed.Code.INVALID_REQUEST).setMessage(e.getMessage())).build());
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

    /** Unset fields take the defaults: greedy, no top-k or top-p, no penalty, 128 tokens, the model's eos ids. */
    private SamplingParams samplingOf(JobRequest r) {
        var p = r.getSampling();
        return new SamplingParams(p.getTemperature(), p.getTopK(), p.getTopP() == 0 ? 1f : p.getTopP(),
                p.getRepetitionPenalty() == 0 ? 1f : p.getRepetitionPenalty(), p.hasSeed() ? OptionalLong.of(p.getSeed()) : OptionalLong.empty(),
                p.getMaxNewTokens() == 0 ? 128 : p.getMaxNewTokens(), p.getStopTokenIdsCount() > 0 ? p.getStopTokenIdsList() : settings.eosTokenIds());
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
        stages.getFirst().tell(new StageActor.Run(new MicroBatch(nextBatch++, new SequenceChanges(new long[0], new int[0],
                new long[] {l.sequence}), new long[0], new int[0], new int[0], null, new int[0])));
        schedule();
        return this;
    }

    private Behavior<Command> onStepDone(StepDone d) {
        for (Group g : groups) {
            if (g.inFlight && g.batchId == d.batchId()) {
                g.inFlight = false;
                for (int i = 0; i < g.rowOwners.size(); i++) {
                    Live l = g.rowOwners.get(i);
                    if (!l.cancelled) {
                        accept(g, l, d.logits()[i]);
                    }
                }
                break;
            }
        }
        schedule();
        return this;
    }

    private void accept(Group g, Live l, float[] logits) {
        l.prefilled = true;
        int token = l.state.accept(logits);
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
        int perGroup = Math.max(1, (settings.maxBatch() + groups.length - 1) / groups.length);
        for (Group g : groups) {
            if (g.inFlight) {
                continue;
            }
            while (!queue.isEmpty() && g.members.size() < perGroup && live.size() < settings.maxBatch()) {
                Job job = queue.poll();
                Live l = new Live(job, nextSequence++, new SequenceState(job.prompt, job.params, settings.config().maxPositions()),
                        settings.tokenizer() == null ? null : settings.tokenizer().streamDecoder(true));
                g.members.add(l);
                live.put(job.request.getJobId(), l);
            }
            send(g);
        }
    }

    private void send(Group g) {
        List<Long> open = new ArrayList<>();
        List<Integer> capacities = new ArrayList<>();
        List<Long> sequences = new ArrayList<>();
        List<Integer> positions = new ArrayList<>();
        List<Integer> tokens = new ArrayList<>();
        List<Integer> logitRows = new ArrayList<>();
        List<Live> owners = new ArrayList<>();
        for (Live l : g.members) {
            if (!l.prefilled) {
                open.add(l.sequence);
                capacities.add(l.state.capacity());
                for (int p = 0; p < l.state.promptLength(); p++) {
                    sequences.add(l.sequence);
                    positions.add(p);
                    tokens.add(l.state.token(p));
                }
            } else {
                sequences.add(l.sequence);
                positions.add(l.state.length() - 1);
                tokens.add(l.state.lastToken());
            }
            logitRows.add(sequences.size() - 1);
            owners.add(l);
        }
        if (sequences.isEmpty() && g.toClose.isEmpty()) {
            return;
        }
        SequenceChanges changes = new SequenceChanges(open.stream().mapToLong(Long::longValue).toArray(),
                capacities.stream().mapToInt(Integer::intValue).toArray(), g.toClose.stream().mapToLong(Long::longValue).toArray());
        g.toClose.clear();
        g.batchId = nextBatch++;
        g.rowOwners = owners;
        g.inFlight = true;
        stages.getFirst().tell(new StageActor.Run(new MicroBatch(g.batchId, changes, sequences.stream().mapToLong(Long::longValue).toArray(),
                positions.stream().mapToInt(Integer::intValue).toArray(), tokens.stream().mapToInt(Integer::intValue).toArray(), null,
                logitRows.stream().mapToInt(Integer::intValue).toArray())));
    }
}
