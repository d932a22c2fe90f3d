package ai.convoy.actors.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.actors.server.ServerProcess;
import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.JobServiceClient;
import ai.convoy.runtime.model.EmbeddedModel;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three cluster members, each a JVM of its own on loopback with one simulated GPU, talking over TLS: convoy serve (the
 * coordinator, node-a) and two convoy node processes; a node-b holding a certificate of another CA cannot join. Sixteen concurrent greedy jobs over gRPC equal their single-process runs;
 * after a kill -9 of node-b in the middle of generation they all finish unchanged on the members left; node-b started
 * again is used again. Then node-c is paused (SIGSTOP) until it is planned away and resumed (SIGCONT): every job ends
 * once with its single-process output, and node-c joins again and is used again.
 */
class ClusterTest {
    static final String SIM = "sim:0=64MiB";
    static final int JOBS = 16;
    static final int LONG_PROMPT = 300;

    @TempDir
    Path tmp;

    @Test
    void sixteenJobsOverThreeMembersSurviveAKilledMemberAndUseItAgainWhenItReturns() throws Exception {
        Path config = tmp.resolve("cluster.conf");
        int[] ports = freePorts(3);
        String members = members(ports);
        Files.writeString(config, clusterConfig(members, "tls/cluster"));
        Path intruderConfig = tmp.resolve("intruder.conf");
        Files.writeString(intruderConfig, clusterConfig(members, "tls/cluster/other"));
        List<JobRequest> shortJobs = jobs("short", 24);
        List<JobRequest> longJobs = jobs("long", 160);
        List<int[]> expectedShort = solo(shortJobs);
        List<int[]> expectedLong = solo(longJobs);
        Process c = node(config, "node-c", "c.log");
        // node-b with a certificate of another CA cannot join: the coordinator waits on, the intruder's handshakes fail
        Process intruder = node(intruderConfig, "node-b", "intruder.log");
        Path aDir = Files.createDirectories(tmp.resolve("a"));
        CompletableFuture<ServerProcess> serving = CompletableFuture.supplyAsync(() -> {
            try {
                return ServerProcess.start(aDir, "--cluster-config", config.toString(), "--member", "node-a", "--devices", SIM, "--max-batch-size", "16");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        awaitLog(() -> Files.readString(tmp.resolve("intruder.log")), "SSLHandshakeException");
        awaitLog(() -> Files.readString(aDir.resolve("serve.log")), "waiting for node-b to join");
        intruder.destroyForcibly();
        Process b = node(config, "node-b", "b.log");
        ActorSystem<Void> clientSystem = ActorSystem.create(Behaviors.empty(), "cluster-test-client");
        try (ServerProcess a = serving.get(90, TimeUnit.SECONDS)) {
            String log = a.logText();
            assertTrue(log.contains("placed over the cluster: node-a/sim:0") && log.contains("node-b/sim:0") && log.contains("node-c/sim:0"), log);
            JobServiceClient client = a.client(clientSystem);
            assertOutputs(expectedShort, runAll(client, clientSystem, shortJobs, () -> { }), "over three members");

            long[] killedAt = {0};
            AtomicInteger tokens = new AtomicInteger();
            List<int[]> afterKill = runAll(client, clientSystem, longJobs, () -> {
                if (tokens.incrementAndGet() == JOBS * 20) {
                    b.destroyForcibly();
                    killedAt[0] = System.nanoTime();
                }
            });
            assertTrue(killedAt[0] > 0, "node-b was killed in the middle of generation");
            assertOutputs(expectedLong, afterKill, "after node-b was killed");
            log = a.logText();
            assertTrue(log.contains("node-b left the cluster: placed again") || log.contains("stage-1 was lost"), log);
            System.out.printf("ClusterTest: node-b killed after %d tokens; all %d jobs finished %.2f s after the kill%n", JOBS * 20, JOBS,
                    (System.nanoTime() - killedAt[0]) / 1e9);

            Process again = node(config, "node-b", "b2.log");
            awaitLog(a::logText, "node-b joined the cluster: placed again");
            assertOutputs(expectedShort, runAll(client, clientSystem, renamed(shortJobs, "again"), () -> { }), "with node-b back");

            // node-c paused past the failure detector and until the resolver downs it, then resumed: it is planned away
            // and its sequences replayed; on resuming it finds itself removed and joins again
            AtomicInteger pausedTokens = new AtomicInteger();
            long[] pausedAt = {0};
            CompletableFuture<Void> resume = new CompletableFuture<>();
            List<int[]> afterPause = runAll(client, clientSystem, renamed(longJobs, "paused"), () -> {
                if (pausedTokens.incrementAndGet() == JOBS * 20) {
                    signal(c, "STOP");
                    pausedAt[0] = System.nanoTime();
                    CompletableFuture.runAsync(() -> resumeWhenDowned(a, c, ports[2], resume));
                }
            });
            assertTrue(pausedAt[0] > 0, "node-c was paused in the middle of generation");
            assertOutputs(expectedLong, afterPause, "after node-c was paused");
            System.out.printf("ClusterTest: node-c paused after %d tokens; all %d jobs finished %.2f s after the pause%n", JOBS * 20, JOBS,
                    (System.nanoTime() - pausedAt[0]) / 1e9);
            resume.get(60, TimeUnit.SECONDS);
            awaitLog(() -> Files.readString(tmp.resolve("c.log")), "node-c was removed from the cluster; joining it again");
            awaitLog(a::logText, "node-c joined the cluster: placed again");
            assertOutputs(expectedShort, runAll(client, clientSystem, renamed(shortJobs, "resumed"), () -> { }), "with node-c back");
            again.destroyForcibly();
        } finally {
            clientSystem.terminate();
            b.destroyForcibly();
            c.destroyForcibly();
        }
    }

    /** Three members on loopback whose Artery connections use TLS with the certificate in test resource folder {@code tls}. */
    static String clusterConfig(CharSequence members, String tls) throws Exception {
        Path dir = Path.of(ClusterTest.class.getResource("/" + tls + "/tls.crt").toURI()).getParent();
        return "convoy.cluster {\n  members = [\n" + members + "  ]\n  down-after = 2s\n  tls {\n    key-file = \"" + dir.resolve("tls.key")
                + "\"\n    cert-file = \"" + dir.resolve("tls.crt") + "\"\n    ca-cert-file = \"" + dir.resolve("ca.crt") + "\"\n  }\n}\n";
    }

    /** Waits (90 s at most: a removed member's shutdown takes a while on a loaded machine) until the log holds any of these lines. */
    static void awaitLog(java.util.concurrent.Callable<String> log, String... lines) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (!logHolds(log.call(), lines) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertTrue(logHolds(log.call(), lines), log.call());
    }

    private static boolean logHolds(String log, String... lines) {
        return java.util.Arrays.stream(lines).anyMatch(log::contains);
    }

    /** SIGCONT to a paused member once the cluster has removed it, which quarantines it (60 s at most). */
    private static void resumeWhenDowned(ServerProcess coordinator, Process member, int port, CompletableFuture<Void> resumed) {
        try {
            awaitLog(coordinator::logText, "Association to [pekko://" + PipelineRuntime.SYSTEM_NAME + "@127.0.0.1:" + port + "] with UID");
            signal(member, "CONT");
            resumed.complete(null);
        } catch (Throwable t) {
            signal(member, "CONT");
            resumed.completeExceptionally(t);
        }
    }

    private static void signal(Process p, String signal) {
        try {
            new ProcessBuilder("kill", "-" + signal, Long.toString(p.pid())).inheritIO().start().waitFor();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private Process node(Path config, String member, String log) throws Exception {
        return node(tmp, config, member, log);
    }

    /** convoy node as {@code member} with one simulated GPU, its output in {@code tmp/log}; waits until it has started. */
    static Process node(Path tmp, Path config, String member, String log) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve(member + "-" + log));
        Process p = ServerProcess.launch(dir, tmp.resolve(log), List.of("node", "--cluster-config", config.toString(), "--member", member,
                "--devices", SIM));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (p.isAlive() && System.nanoTime() < deadline && !Files.readString(tmp.resolve(log)).contains("is a member of the cluster")) {
            Thread.sleep(50);
        }
        assertTrue(p.isAlive(), member + " stopped: " + Files.readString(tmp.resolve(log)));
        return p;
    }

    /**
     * Sixteen greedy jobs of short prompts, but for the first: its 300-token prompt's hidden states (300 KiB) cross
     * each boundary in one message larger than Artery's ordinary frames.
     */
    static List<JobRequest> jobs(String name, int newTokens) {
        List<JobRequest> out = new ArrayList<>();
        for (int i = 0; i < JOBS; i++) {
            int[] prompt = i == 0 ? java.util.stream.IntStream.range(0, LONG_PROMPT).map(t -> 5 + t % 900).toArray()
                    : new int[] {1 + i, 7 + 3 * i, 40 + i};
            out.add(PipelineRuntimeTest.job(name + "-" + i, prompt, newTokens, 0f, 0));
        }
        return out;
    }

    /** Each job's ids on the built-in model in this process alone. */
    static List<int[]> solo(List<JobRequest> jobs) {
        try (Model single = Model.open(EmbeddedModel.directory(), new CpuBackend(), QuantizationOptions.NONE)) {
            return jobs.stream().map(j -> PipelineRuntimeTest.solo(single, j)).toList();
        }
    }

    static List<JobRequest> renamed(List<JobRequest> jobs, String prefix) {
        return jobs.stream().map(j -> j.toBuilder().setJobId(prefix + "-" + j.getJobId()).build()).toList();
    }

    static void assertOutputs(List<int[]> expected, List<int[]> actual, String when) {
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), actual.get(i), "job " + i + " " + when);
        }
    }

    /** Submits the jobs at once over gRPC; each job's generated ids. {@code onToken} runs at every token event. */
    static List<int[]> runAll(JobServiceClient client, ActorSystem<Void> system, List<JobRequest> jobs, Runnable onToken) {
        List<CompletableFuture<int[]>> results = new ArrayList<>();
        for (JobRequest j : jobs) {
            results.add(client.submit(j).map(e -> {
                if (e.hasTokens()) {
                    onToken.run();
                }
                return e;
            }).runWith(Sink.seq(), system).toCompletableFuture().thenApply(events -> {
                JobEvent last = events.getLast();
                assertTrue(last.hasDone(), j.getJobId() + " ended with " + last);
                assertTrue(events.stream().filter(JobEvent::hasDone).count() == 1, j.getJobId() + " ended twice");
                return events.stream().filter(JobEvent::hasTokens).flatMap(e -> e.getTokens().getIdsList().stream()).mapToInt(Integer::intValue)
                        .toArray();
            }));
        }
        return results.stream().map(f -> f.orTimeout(120, TimeUnit.SECONDS).join()).toList();
    }

    /** Members node-a, node-b, ... on loopback at these ports, as the cluster config lists them. */
    static String members(int[] ports) {
        StringBuilder members = new StringBuilder();
        char name = 'a';
        for (int port : ports) {
            members.append("    { name = \"node-").append(name++).append("\", host = \"127.0.0.1\", port = ").append(port).append(" }\n");
        }
        return members.toString();
    }

    static int[] freePorts(int n) throws Exception {
        int[] ports = new int[n];
        List<ServerSocket> sockets = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
            sockets.add(s);
            ports[i] = s.getLocalPort();
        }
        for (ServerSocket s : sockets) {
            s.close();
        }
        return ports;
    }
}
