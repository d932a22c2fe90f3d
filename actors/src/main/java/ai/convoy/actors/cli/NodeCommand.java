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
import java.util.concurrent.CountDownLatch;
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
        List<Device> devices = deviceOptions.resolve(dir).stream().filter(Device::gpu).map(d -> d.on(cluster.member)).toList();
        if (devices.isEmpty()) {
            throw new ConvoyException("a member offers its GPUs, and --devices names none: give cuda:N or sim:N=SIZE");
        }
        PrintWriter err = spec.commandLine().getErr();
        CountDownLatch stop = StopSignals.latch();
        ClusterConfig.Member me = config.member(cluster.member);
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            ActorSystem<NodeAgent.Command> system = ActorSystem.create(NodeAgent.create(cluster.member, devices, model, checkpoint,
                    CheckpointFingerprint.of(dir)), PipelineRuntime.SYSTEM_NAME, config.pekko(cluster.member));
            err.printf("convoy: %s is a member of the cluster of %s at %s:%d, offering %s; SIGTERM or SIGINT leaves%n", cluster.member,
                    config.source(), me.host(), me.port(), String.join(", ", devices.stream().map(d -> d.id() + " (" + Units.bytes(d.budget()) + ")")
                            .toList()));
            err.flush();
            stop.await();
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().join();
            err.printf("convoy: %s left the cluster%n", cluster.member);
            err.flush();
        }
        return 0;
    }
}
