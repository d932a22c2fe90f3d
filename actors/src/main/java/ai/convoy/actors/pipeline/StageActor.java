package ai.convoy.actors.pipeline;

import ai.convoy.kernels.DeviceOutOfMemoryException;
import ai.convoy.runtime.model.NonFiniteLogitsException;
import ai.convoy.runtime.pipeline.MicroBatch;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.pipeline.UnknownSequenceException;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Owns one device and its pipeline stage (a device actor for a GPU or simulated GPU, the CPU-offload actor for the
 * layers the plan put on the CPU): runs each micro-batch through its layers and passes it on, to the next stage or,
 * from the last, as logits to the coordinator. It counts the time it spends computing.
 *
 * <p>Out-of-memory, an unknown sequence and non-finite logits are the coordinator's to handle; any other failure
 * crashes the actor, after telling the coordinator, and its supervisor restarts it with back-off, which loads the
 * stage again from its weights (its KV cache starts empty). Past {@link #MAX_RESTARTS} restarts, or when loading
 * fails, the actor stops; the coordinator watches it and ends every job.
 */
public final class StageActor {
    static final int MAX_RESTARTS = 5;
    static final Duration MIN_BACKOFF = Duration.ofMillis(10);
    static final Duration MAX_BACKOFF = Duration.ofMillis(500);

    public sealed interface Command extends PipelineMessage permits Run, Stats, Stop {
    }

    /** The coordinator placed the model again without this stage (sent to stages on other members, which it cannot stop itself). */
    public record Stop() implements Command {
    }

    public record Run(MicroBatch batch) implements Command {
    }

    public record Stats(ActorRef<StageStats> replyTo) implements Command {
    }

    /** Busy time since the stage started, how long ago it started, and the device memory it holds (-1: not counted). */
    public record StageStats(String name, long busyNanos, long aliveNanos, long heldBytes) implements PipelineMessage {
        public double utilisation() {
            return aliveNanos == 0 ? 0 : (double) busyNanos / aliveNanos;
        }
    }

    /** A failure that the stage cannot go on from: its supervisor restarts it. */
    static final class StageFailure extends RuntimeException {
        StageFailure(String stage, RuntimeException cause) {
            super(stage + " failed: " + cause, cause);
        }
    }

    private StageActor() {
    }

    /** The name of the stage at position {@code index} of the pipeline: stage-0, stage-1, ... */
    public static String nameOf(int index) {
        return "stage-" + index;
    }

    /** The position in the pipeline of the stage named {@code name}. */
    public static int indexOf(String name) {
        return Integer.parseInt(name.substring("stage-".length()));
    }

    /** A stage that passes its output to {@code next}, or, when {@code next} is null, its logits to the coordinator. */
    public static Behavior<Command> create(String name, java.util.function.Supplier<PipelineStage> loader, ActorRef<Command> next,
                                           ActorRef<Coordinator.Command> coordinator) {
        long started = System.nanoTime();
        long[] busy = {0};
        Behavior<Command> stage = Behaviors.setup(ctx -> {
            PipelineStage loaded;
            try {
                loaded = loader.get();
            } catch (RuntimeException e) {
                // a stage that cannot load is lost: a retry would fail the same way, and the jobs should hear now
                ctx.getLog().warn("{} cannot load its layers ({}); it is lost", name, e.toString());
                coordinator.tell(new Coordinator.StageLoadFailed(name, e));
                return Behaviors.stopped();
            }
            PipelineStage holder = loaded;
            return Behaviors.receive(Command.class)
                    .onMessage(Run.class, run -> {
                        long t0 = System.nanoTime();
                        PipelineStage.Result result;
                        try {
                            result = holder.run(run.batch());
                        } catch (DeviceOutOfMemoryException | UnknownSequenceException | NonFiniteLogitsException e) {
                            // the coordinator decides: smaller batches on out-of-memory, a replay for an unknown sequence
                            coordinator.tell(new Coordinator.StepFailed(run.batch().id(), name, e, false));
                            return Behaviors.same();
                        } catch (RuntimeException e) {
                            ctx.getLog().warn("{} failed ({}); restarting it from its weights", name, e.toString());
                            coordinator.tell(new Coordinator.StepFailed(run.batch().id(), name, e, true));
                            throw new StageFailure(name, e);
                        } finally {
                            busy[0] += System.nanoTime() - t0;
                        }
                        if (next != null) {
                            next.tell(new Run(result.next()));
                        } else {
                            coordinator.tell(new Coordinator.StepDone(run.batch().id(), result.head()));
                        }
                        return Behaviors.same();
                    })
                    .onMessage(Stop.class, s -> Behaviors.stopped())
                    .onMessage(Stats.class, s -> {
                        s.replyTo().tell(new StageStats(name, busy[0], System.nanoTime() - started, holder.part().backend().heldBytes()));
                        return Behaviors.same();
                    })
                    .onSignal(PreRestart.class, signal -> {
                        holder.close();
                        return Behaviors.same();
                    })
                    .onSignal(PostStop.class, signal -> {
                        holder.close();
                        return Behaviors.same();
                    })
                    .build();
        });
        // the warning above says what failed, in one line; the supervisor's own log would add a stack trace
        return Behaviors.supervise(stage).onFailure(StageFailure.class, SupervisorStrategy.restartWithBackoff(MIN_BACKOFF, MAX_BACKOFF, 0.2)
                .withMaxRestarts(MAX_RESTARTS).withLoggingEnabled(false));
    }
}
