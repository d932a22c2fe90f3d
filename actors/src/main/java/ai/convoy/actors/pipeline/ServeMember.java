package ai.convoy.actors.pipeline;

import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Supplier;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.ClusterSingletonSettings;
import org.apache.pekko.cluster.typed.SingletonActor;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * A convoy serve process's part in a cluster, as its actor system's guardian: it runs the member's {@link NodeAgent}
 * for its GPUs, and the {@link Coordinator} as a cluster singleton on the oldest serve member, forwarding the job
 * API's messages to wherever the singleton runs. When the member that hosts it leaves or becomes unreachable, the
 * singleton moves to the next serve member, and {@code coordinatorLost} hears of it: jobs sent to the old one are gone.
 */
final class ServeMember {
    /** The role of members that can host the coordinator: those running convoy serve. */
    static final String COORDINATOR_ROLE = "coordinator";

    private ServeMember() {
    }

    static Behavior<Coordinator.Command> create(Behavior<NodeAgent.Command> agent, Supplier<Behavior<Coordinator.Command>> coordinator,
                                                Consumer<String> coordinatorLost) {
        return Behaviors.setup(ctx -> {
            ctx.spawn(agent, "agent");
            ActorRef<Coordinator.Command> singleton = ClusterSingleton.get(ctx.getSystem()).init(
                    SingletonActor.of(Behaviors.<Coordinator.Command>setup(c -> coordinator.get()), "coordinator")
                            .withSettings(ClusterSingletonSettings.create(ctx.getSystem()).withRole(COORDINATOR_ROLE)));
            ctx.spawn(hostWatch(coordinatorLost), "coordinator-host");
            return Behaviors.receiveMessage(m -> {
                singleton.tell(m);
                return Behaviors.same();
            });
        });
    }

    /** Follows which member hosts the singleton (the oldest reachable serve member that is up) and tells when it changes. */
    private static Behavior<ClusterEvent.ClusterDomainEvent> hostWatch(Consumer<String> coordinatorLost) {
        return Behaviors.setup(ctx -> {
            Cluster cluster = Cluster.get(ctx.getSystem());
            cluster.subscriptions().tell(Subscribe.create(ctx.getSelf().<ClusterEvent.MemberEvent>narrow(), ClusterEvent.MemberEvent.class));
            cluster.subscriptions().tell(Subscribe.create(ctx.getSelf().<ClusterEvent.ReachabilityEvent>narrow(), ClusterEvent.ReachabilityEvent.class));
            Member[] host = {null};
            return Behaviors.receiveMessage(event -> {
                Optional<Member> now = host(cluster);
                Member before = host[0];
                if (before != null && !before.equals(cluster.selfMember()) && !now.map(before::equals).orElse(false)) {
                    coordinatorLost.accept("the coordinator's member " + before.address() + " left or cannot be reached; submit the job again");
                }
                host[0] = now.orElse(null);
                return Behaviors.same();
            });
        });
    }

    private static Optional<Member> host(Cluster cluster) {
        ClusterEvent.CurrentClusterState state = cluster.state();
        return StreamSupport.stream(state.getMembers().spliterator(), false)
                .filter(m -> m.status() == MemberStatus.up() && m.hasRole(COORDINATOR_ROLE) && !state.getUnreachable().contains(m))
                .min(Member.ageOrdering());
    }
}
