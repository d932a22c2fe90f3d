package ai.convoy.actors.pipeline;

import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * A cluster member's agent: says which devices the member offers (with their budgets) and which checkpoint it holds,
 * and starts stage actors on its devices, loading their layers from the member's own copy of the model. It registers
 * with the receptionist, so that the coordinator finds every member's agent.
 */
public final class NodeAgent {
    public static final ServiceKey<Command> KEY = ServiceKey.create(Command.class, "convoy-node");

    public sealed interface Command extends PipelineMessage permits Describe, StartStage, CoordinatorGone {
    }

    public record Describe(ActorRef<MemberInfo> replyTo) implements Command {
    }

    /** A member: its name, the devices it offers (each naming the member), and the fingerprint of its checkpoint. */
    public record MemberInfo(String member, List<Device> devices, String checkpoint, ActorRef<Command> agent) implements PipelineMessage {
    }

    /** Starts the stage {@code spec} (on one of this member's devices) as actor {@code actorName}, passing its output to {@code next}. */
    public record StartStage(PipelineRuntime.StageSpec spec, String stage, String actorName, QuantizationOptions options, int kvBytesGpu,
                             ActorRef<StageActor.Command> next, ActorRef<Coordinator.Command> coordinator,
                             ActorRef<StageStarted> replyTo) implements Command {
    }

    public record StageStarted(ActorRef<StageActor.Command> stage) implements PipelineMessage {
    }

    /** A coordinator whose stages run here stopped (its member left): they stop too, freeing their devices. */
    private record CoordinatorGone(ActorRef<Coordinator.Command> coordinator) implements Command {
    }

    private NodeAgent() {
    }

    /**
     * @param devices    this member's devices, each already naming the member
     * @param checkpoint the member's model, which its stages load from
     */
    public static Behavior<Command> create(String member, List<Device> devices, ModelConfig config, Checkpoint checkpoint, String fingerprint) {
        return Behaviors.setup(ctx -> {
            ctx.getSystem().receptionist().tell(Receptionist.register(KEY, ctx.getSelf()));
            Map<ActorRef<Coordinator.Command>, List<ActorRef<StageActor.Command>>> stagesOf = new HashMap<>();
            long[] started = {0};
            return Behaviors.receive(Command.class)
                    .onMessage(Describe.class, d -> {
                        d.replyTo().tell(new MemberInfo(member, devices, fingerprint, ctx.getSelf()));
                        return Behaviors.same();
                    })
                    .onMessage(StartStage.class, s -> {
                        PipelineRuntime.StageSpec spec = s.spec();
                        // a coordinator that moved starts its placements from 0 again: names stay unique here
                        ActorRef<StageActor.Command> stage = ctx.spawn(StageActor.create(s.stage(),
                                () -> PipelineRuntime.loadStage(config, checkpoint, spec, s.options(), PipelineRuntime.backendFor(spec.device(), s.kvBytesGpu())), s.next(),
                                s.coordinator()), s.actorName() + "-" + started[0]++, DispatcherSelector.blocking());
                        if (!stagesOf.containsKey(s.coordinator())) {
                            ctx.watchWith(s.coordinator(), new CoordinatorGone(s.coordinator()));
                        }
                        stagesOf.computeIfAbsent(s.coordinator(), c -> new ArrayList<>()).add(stage);
                        s.replyTo().tell(new StageStarted(stage));
                        return Behaviors.same();
                    })
                    .onMessage(CoordinatorGone.class, g -> {
                        stagesOf.getOrDefault(g.coordinator(), List.of()).forEach(ctx::stop);
                        stagesOf.remove(g.coordinator());
                        return Behaviors.same();
                    })
                    .build();
        });
    }
}
