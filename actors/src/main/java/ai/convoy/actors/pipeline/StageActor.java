package ai.convoy.actors.pipeline;

import ai.convoy.kernels.DeviceOutOfMemoryException;
import ai.convoy.runtime.model.NonFiniteLogitsException;
import ai.convoy.runtime.pipeline.MicroBatch;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.pipeline.UnknownSequenceException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Owns one device and its pipeline stage (a device actor for a GPU or simulated GPU, the CPU-offload actor for the
 * layers the plan put on the CPU): runs each micro-batch through its layers and passes it on, to the next stage or,
 * from the last, as logits to the coordinator. It counts the time it spends computing. A failure other than
 * out-of-memory or an unknown sequence reloads the stage from its weights (its KV cache starts empty) before the
 * coordinator hears of it.
 */
public final class StageActor {

    public sealed interface Command permits Run, Stats {
    }

    public record Run(MicroBatch batch) implements Command {
    }

    public record Stats(ActorRef<StageStats> replyTo) implements Command {
    }

    /** Busy time since the stage started, and how long ago it started. */
    public record StageStats(String name, long busyNanos, long aliveNanos) {
        public double utilisation() {
            return aliveNanos == 0 ? 0 : (double) busyNanos / aliveNanos;
        }
    }

    private StageActor() {
    }

    /** A stage that passes its output to {@code next}, or, when {@code next} is null, its logits to the coordinator. */
    public static Behavior<Command> create(String name, java.util.function.Supplier<PipelineStage> loader, ActorRef<Command> next,
                                           ActorRef<Coordinator.Command> coordinator) {
        return Behaviors.setup(ctx -> {
            long started = System.nanoTime();
            long[] busy = {0};
            PipelineStage[] holder = {loader.get()};
            return Behaviors.receive(Command.class)
                    .onMessage(Run.class, run -> {
                        long t0 = System.nanoTime();
                        PipelineStage.Result result;
                        try {
                            result = holder[0].run(run.batch());
                        } catch (RuntimeException e) {
                            boolean restart = !(e instanceof DeviceOutOfMemoryException) && !(e instanceof UnknownSequenceException)
                                    && !(e instanceof NonFiniteLogitsException);
                            if (restart) {
                                ctx.getLog().warn("{} failed ({}); reloading it from its weights", name, e.toString());
                                holder[0].close();
                                holder[0] = loader.get();
                            }
                            // the coordinator decides: smaller batches on out-of-memory, replaying sequences otherwise
                            coordinator.tell(new Coordinator.StepFailed(run.batch().id(), name, e, restart));
                            return Behaviors.same();
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
                    .onMessage(Stats.class, s -> {
                        s.replyTo().tell(new StageStats(name, busy[0], System.nanoTime() - started));
                        return Behaviors.same();
                    })
                    .onSignal(org.apache.pekko.actor.typed.PostStop.class, signal -> {
                        holder[0].close();
                        return Behaviors.same();
                    })
                    .build();
        });
    }
}
