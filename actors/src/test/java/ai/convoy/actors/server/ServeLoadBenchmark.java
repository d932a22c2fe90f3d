package ai.convoy.actors.server;

import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.JobServiceClient;
import ai.convoy.proto.SamplingParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * Load on convoy serve from several clients at once over gRPC (1, 8 and 64 by default), each submitting greedy jobs of
 * a 32-token prompt one after another for a while; prints requests/s, generated tokens/s, and the median and 99th
 * percentile of the time to first token and of the time between tokens, as the clients see them, and the decode rate
 * (clients over the median time between tokens: what convoy bench's decode tokens/s is to its median step, without
 * the prompts that the tokens/s of all counts too). Arguments: seconds
 * per level, new tokens per job, the client counts (comma-separated), then convoy serve's own options (default: the
 * built-in model on the CPU); the server takes --max-batch-size of the most clients.
 */
public final class ServeLoadBenchmark {
    /** Every job's prompt: 32 token ids, any model's. */
    private static final ai.convoy.proto.TokenIds PROMPT = ai.convoy.proto.TokenIds.newBuilder()
            .addAllIds(java.util.stream.IntStream.rangeClosed(1, 32).boxed().toList()).build();

    private ServeLoadBenchmark() {
    }

    /** What one level of load measured. */
    record Level(int clients, int requests, long tokens, double seconds, List<Double> firstTokenMs, List<Double> betweenTokensMs) {
    }

    public static void main(String[] args) throws Exception {
        int seconds = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        int newTokens = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        int[] levels0 = args.length > 2 ? Arrays.stream(args[2].split(",")).mapToInt(Integer::parseInt).toArray() : new int[] {1, 8, 64};
        List<String> serve = args.length > 3 ? List.of(Arrays.copyOfRange(args, 3, args.length)) : List.of("--devices", "cpu");
        Path dir = Files.createTempDirectory("serve-load");
        List<String> options = new ArrayList<>(serve);
        options.addAll(List.of("--max-queue", "256", "--max-batch-size", Integer.toString(Arrays.stream(levels0).max().orElse(1))));
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "serve-load");
        try (ServerProcess server = ServerProcess.start(dir, options.toArray(String[]::new))) {
            JobServiceClient jobs = server.client(system);
            // warm-up: the JIT and the server's first steps
            runLevel(jobs, system, 8, 3, newTokens);
            List<Level> levels = new ArrayList<>();
            for (int clients : levels0) {
                levels.add(runLevel(jobs, system, clients, seconds, newTokens));
            }
            System.out.printf("convoy serve %s, 32-token prompts, %d new tokens a job, %d s a level, clients over gRPC on loopback%n%n",
                    String.join(" ", options), newTokens, seconds);
            System.out.printf("%-8s %10s %12s %12s %12s %12s %12s %14s%n", "clients", "requests/s", "tokens/s", "TTFT p50 ms", "TTFT p99 ms",
                    "ITL p50 ms", "ITL p99 ms", "decode tok/s");
            for (Level l : levels) {
                double itl = percentile(l.betweenTokensMs(), 50);
                System.out.printf("%-8d %10.2f %12.1f %12.1f %12.1f %12.2f %12.2f %14.1f%n", l.clients(), l.requests() / l.seconds(),
                        l.tokens() / l.seconds(), percentile(l.firstTokenMs(), 50), percentile(l.firstTokenMs(), 99), itl,
                        percentile(l.betweenTokensMs(), 99), l.clients() * 1000 / itl);
            }
        } finally {
            system.terminate();
        }
    }

    static double percentile(List<Double> values, int p) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p / 100.0 * sorted.size()) - 1));
    }

    private static Level runLevel(JobServiceClient jobs, ActorSystem<Void> system, int clients, int seconds, int newTokens) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        List<Double> first = Collections.synchronizedList(new ArrayList<>());
        List<Double> between = Collections.synchronizedList(new ArrayList<>());
        long[] tokens = new long[clients];
        int[] requests = new int[clients];
        long start = System.nanoTime();
        List<CompletableFuture<Void>> running = new ArrayList<>();
        // a thread of its own for each client: the common pool has fewer threads than the most clients
        ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
        for (int c = 0; c < clients; c++) {
            int client = c;
            running.add(CompletableFuture.runAsync(() -> {
                int n = 0;
                while (System.nanoTime() < end) {
                    JobRequest request = JobRequest.newBuilder().setJobId("load-" + clients + "-" + client + "-" + n++).setTokenIds(PROMPT)
                            .setSampling(SamplingParams.newBuilder().setTemperature(0).setMaxNewTokens(newTokens)).build();
                    long submitted = System.nanoTime();
                    long[] last = {0};
                    List<JobEvent> events = jobs.submit(request).map(e -> {
                        if (e.hasTokens()) {
                            long now = System.nanoTime();
                            if (last[0] == 0) {
                                first.add((now - submitted) / 1e6);
                            } else {
                                between.add((now - last[0]) / 1e6);
                            }
                            last[0] = now;
                        }
                        return e;
                    }).runWith(Sink.seq(), system).toCompletableFuture().join();
                    JobEvent end0 = events.getLast();
                    if (!end0.hasDone()) {
                        throw new IllegalStateException("a job did not complete: " + end0);
                    }
                    tokens[client] += end0.getDone().getUsage().getGeneratedTokens();
                    requests[client]++;
                }
            }, threads));
        }
        try {
            CompletableFuture.allOf(running.toArray(CompletableFuture[]::new)).get(10L * seconds + 600, TimeUnit.SECONDS);
        } finally {
            threads.shutdownNow();
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        return new Level(clients, Arrays.stream(requests).sum(), Arrays.stream(tokens).sum(), elapsed, first, between);
    }
}
