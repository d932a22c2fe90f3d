package ai.convoy.actors.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.actors.server.ServerProcess;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.JobServiceClient;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two convoy serve members (node-a, the oldest, hosting the coordinator, and node-b) and a convoy node (node-c), each
 * a JVM of its own over TLS on loopback. Sixteen greedy jobs, half through each server; node-a is killed (kill -9) in
 * the middle of generation: its clients' calls break and node-b's end UNAVAILABLE; the coordinator starts again on
 * node-b and places the model over node-b and node-c; every job submitted again to node-b under its own id completes
 * exactly once, with its single-process output.
 */
class ClusterFailoverTest {
    static final int JOBS = ClusterTest.JOBS;

    @TempDir
    Path tmp;

    @Test
    void killingTheCoordinatorsMemberMovesItAndResubmittedJobsCompleteOnce() throws Exception {
        Path config = tmp.resolve("cluster.conf");
        Files.writeString(config, ClusterTest.clusterConfig(ClusterTest.members(ClusterTest.freePorts(3)), "tls/cluster"));
        List<JobRequest> jobs = ClusterTest.jobs("failover", 120);
        List<int[]> expected = ClusterTest.solo(jobs);
        Process c = ClusterTest.node(tmp, config, "node-c", "c.log");
        ActorSystem<Void> clientSystem = ActorSystem.create(Behaviors.empty(), "failover-test-client");
        String[] serve = {"--cluster-config", config.toString(), "--devices", ClusterTest.SIM, "--max-batch-size", "16", "--join-timeout", "5"};
        try (ServerProcess a = ServerProcess.start(Files.createDirectories(tmp.resolve("a")), with(serve, "--member", "node-a"));
             ServerProcess b = ServerProcess.start(Files.createDirectories(tmp.resolve("b")), with(serve, "--member", "node-b"))) {
            JobServiceClient toA = a.client(clientSystem);
            JobServiceClient toB = b.client(clientSystem);
            Map<String, AtomicInteger> done = new ConcurrentHashMap<>();
            AtomicInteger tokens = new AtomicInteger();
            long[] killedAt = {0};
            List<CompletableFuture<List<JobEvent>>> first = new ArrayList<>();
            for (int i = 0; i < JOBS; i++) {
                first.add(submit(i < JOBS / 2 ? toA : toB, jobs.get(i), clientSystem, done, () -> {
                    if (tokens.incrementAndGet() == JOBS * 20) {
                        a.process.destroyForcibly();
                        killedAt[0] = System.nanoTime();
                    }
                }));
            }
            List<Integer> again = new ArrayList<>();
            for (int i = 0; i < JOBS; i++) {
                try {
                    first.get(i).get(60, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    if (i >= JOBS / 2) {
                        assertEquals(Status.Code.UNAVAILABLE, Status.fromThrowable(e.getCause()).getCode(), "job " + i + " through node-b: " + e.getCause());
                    }
                    again.add(i);
                }
            }
            assertTrue(killedAt[0] > 0, "node-a was killed in the middle of generation");
            assertTrue(again.size() == JOBS, "every job was running when the coordinator was lost: " + again);

            List<int[]> outputs = new ArrayList<>();
            for (int i = 0; i < JOBS; i++) {
                outputs.add(null);
            }
            List<CompletableFuture<Void>> resubmitted = new ArrayList<>();
            for (int i : again) {
                resubmitted.add(untilAccepted(toB, jobs.get(i), clientSystem, done).thenAccept(events -> outputs.set(i, ids(events))));
            }
            try {
                CompletableFuture.allOf(resubmitted.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                throw new AssertionError("submitting again to node-b (alive: " + b.process.isAlive() + ", c alive: " + c.isAlive() + "): " + e.getCause() + "; node-b's log: " + b.logText(), e);
            }
            System.out.printf("ClusterFailoverTest: node-a killed after %d tokens; all %d jobs submitted again completed %.2f s after the kill%n",
                    JOBS * 20, JOBS, (System.nanoTime() - killedAt[0]) / 1e9);
            ClusterTest.assertOutputs(expected, outputs, "submitted again after the coordinator moved");
            for (JobRequest j : jobs) {
                assertEquals(1, done.get(j.getJobId()).get(), j.getJobId() + " completed once");
            }
            assertTrue(b.logText().contains("placed: node-b/sim:0"), b.logText());
            // node-b's status shows the plan of the coordinator that now runs there, over the members left
            ai.convoy.proto.ServerStatus status = toB.getStatus(ai.convoy.proto.StatusRequest.getDefaultInstance()).toCompletableFuture()
                    .get(30, TimeUnit.SECONDS);
            assertTrue(status.getPlan().contains("node-b/sim:0") && status.getPlan().contains("node-c/sim:0")
                    && !status.getPlan().contains("node-a"), status.getPlan());
            assertEquals(List.of("node-b/sim:0", "node-c/sim:0"), status.getDevicesList().stream().map(d -> d.getDevice()).toList());
        } finally {
            clientSystem.terminate();
            c.destroyForcibly();
        }
    }

    private static String[] with(String[] options, String... more) {
        List<String> all = new ArrayList<>(List.of(options));
        all.addAll(List.of(more));
        return all.toArray(String[]::new);
    }

    /** The job's events; {@code done} counts each Done event by job id, {@code onToken} runs at each token event. */
    private static CompletableFuture<List<JobEvent>> submit(JobServiceClient client, JobRequest job, ActorSystem<Void> system,
                                                           Map<String, AtomicInteger> done, Runnable onToken) {
        return client.submit(job).map(e -> {
            if (e.hasTokens()) {
                onToken.run();
            }
            if (e.hasDone()) {
                done.computeIfAbsent(job.getJobId(), id -> new AtomicInteger()).incrementAndGet();
            }
            return e;
        }).runWith(Sink.seq(), system).toCompletableFuture().thenApply(events -> {
            assertTrue(events.getLast().hasDone(), job.getJobId() + " ended with " + events.getLast());
            return events;
        });
    }

    /** Submits the job until the server takes it (it answers UNAVAILABLE while the coordinator moves), a second apart, 60 s at most. */
    private static CompletableFuture<List<JobEvent>> untilAccepted(JobServiceClient client, JobRequest job, ActorSystem<Void> system,
                                                                  Map<String, AtomicInteger> done) {
        return CompletableFuture.supplyAsync(() -> {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (true) {
                try {
                    return submit(client, job, system, done, () -> { }).join();
                } catch (CompletionException e) {
                    boolean unavailable = e.getCause() instanceof StatusRuntimeException s && s.getStatus().getCode() == Status.Code.UNAVAILABLE;
                    if (!unavailable || System.nanoTime() > deadline) {
                        throw e;
                    }
                    try {
                        Thread.sleep(1000);
                    } catch (InterruptedException interrupted) {
                        throw new IllegalStateException(interrupted);
                    }
                }
            }
        });
    }

    private static int[] ids(List<JobEvent> events) {
        return events.stream().filter(JobEvent::hasTokens).flatMap(e -> e.getTokens().getIdsList().stream()).mapToInt(Integer::intValue).toArray();
    }
}
