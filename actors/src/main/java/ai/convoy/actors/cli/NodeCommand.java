package ai.convoy.actors.cli;

import ai.convoy.actors.cluster.ClusterConfig;
import ai.convoy.actors.pipeline.NodeAgent;
import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.Checkpoint;
import ai.convoy.runtime.formats.CheckpointFingerprint;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.plan.Device;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

@Command(name = "node", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Joins a Convoy cluster as a member whose GPUs hold pipeline stages, loaded from its own copy of the model, until SIGTERM or SIGINT.")
final class NodeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ClusterOptions cluster;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    DeviceOptions deviceOptions;

    @Override
    public Integer call() throws InterruptedException {
        if (!cluster.given()) {
            throw new ConvoyException("convoy node needs --cluster-config FILE and --member NAME");
        }
        ClusterConfig config = cluster.load();
        Path dir = modelOptions.directory();
        ModelConfig model = Model.readConfig(dir);
        List<Device> devices = cluster.devices(config, deviceOptions, dir);
        PrintWriter err = spec.commandLine().getErr();
        CountDownLatch stop = StopSignals.latch();
        ClusterConfig.Member me = config.member(cluster.member);
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            String fingerprint = CheckpointFingerprint.of(dir);
            String offered = String.join(", ", devices.stream().map(d -> d.id() + " (" + Units.bytes(d.budget()) + ")").toList());
            for (boolean first = true; ; first = false) {
                ActorSystem<NodeAgent.Command> system = ActorSystem.create(NodeAgent.create(cluster.member, devices, model, checkpoint,
                        fingerprint), PipelineRuntime.SYSTEM_NAME, config.pekko(cluster.member));
                err.printf("convoy: %s is a member of the cluster of %s at %s:%d%s, offering %s; SIGTERM or SIGINT leaves%n", cluster.member,
                        config.source(), me.host(), me.port(), first ? "" : " again", offered);
                err.flush();
                CompletableFuture<?> removed = system.getWhenTerminated().toCompletableFuture();
                while (!stop.await(200, TimeUnit.MILLISECONDS) && !removed.isDone()) {
                    // until a stop signal, or until the cluster removes this member (its resolver downs a member that
                    // finds itself on the minority side or quarantined, as a paused process does on resuming)
                }
                if (!removed.isDone()) {
                    system.terminate();
                    removed.join();
                    err.printf("convoy: %s left the cluster%n", cluster.member);
                    err.flush();
                    break;
                }
                // downed (unreachable past down-after, as a paused process is) or removed: an actor system cannot join
                // again, a new one can, and the coordinator places stages on it once more
                err.printf("convoy: %s was removed from the cluster; joining it again%n", cluster.member);
                err.flush();
            }
        }
        return 0;
    }
}
