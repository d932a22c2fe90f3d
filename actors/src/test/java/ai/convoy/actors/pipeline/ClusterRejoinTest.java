package ai.convoy.actors.pipeline;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.actors.server.ServerProcess;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.JobServiceClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With --rejoin-timeout, a member that held stages and dies (kill -9) is waited for: started again within the timeout,
 * it takes its layers back, the model is never placed without it, and the 16 jobs that paused meanwhile finish with
 * their single-process outputs.
 */
class ClusterRejoinTest {
    @TempDir
    Path tmp;

    @Test
    void aKilledMemberStartedAgainWithinTheRejoinTimeoutTakesItsLayersBack() throws Exception {
        Path config = tmp.resolve("cluster.conf");
        Files.writeString(config, ClusterTest.clusterConfig(ClusterTest.members(ClusterTest.freePorts(3)), "tls/cluster"));
        List<JobRequest> jobs = ClusterTest.jobs("rejoin", 120);
        List<int[]> expected = ClusterTest.solo(jobs);
        Process b = ClusterTest.node(tmp, config, "node-b", "b.log");
        Process c = ClusterTest.node(tmp, config, "node-c", "c.log");
        Process[] again = {null};
        ActorSystem<Void> clientSystem = ActorSystem.create(Behaviors.empty(), "rejoin-test-client");
        try (ServerProcess a = ServerProcess.start(Files.createDirectories(tmp.resolve("a")), "--cluster-config", config.toString(), "--member",
                "node-a", "--devices", ClusterTest.SIM, "--max-batch-size", "16", "--rejoin-timeout", "60")) {
            JobServiceClient client = a.client(clientSystem);
            AtomicInteger tokens = new AtomicInteger();
            CompletableFuture<Void> restarted = new CompletableFuture<>();
            List<int[]> outputs = ClusterTest.runAll(client, clientSystem, jobs, () -> {
                if (tokens.incrementAndGet() == ClusterTest.JOBS * 20) {
                    b.destroyForcibly();
                    CompletableFuture.runAsync(() -> {
                        try {
                            ClusterTest.awaitLog(a::logText, "waiting up to 60 s for it to return");
                            again[0] = ClusterTest.node(tmp, config, "node-b", "b2.log");
                            restarted.complete(null);
                        } catch (Throwable t) {
                            restarted.completeExceptionally(t);
                        }
                    });
                }
            });
            restarted.get(60, TimeUnit.SECONDS);
            ClusterTest.assertOutputs(expected, outputs, "with node-b killed and started again");
            String log = a.logText();
            assertTrue(log.contains("node-b joined the cluster: placed again"), log);
            assertFalse(log.contains("node-b left the cluster: placed again") || log.contains("re-planned over the devices left"), log);
        } finally {
            clientSystem.terminate();
            b.destroyForcibly();
            c.destroyForcibly();
            if (again[0] != null) {
                again[0].destroyForcibly();
            }
        }
    }
}
