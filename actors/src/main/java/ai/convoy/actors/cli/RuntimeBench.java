package ai.convoy.actors.cli;

import ai.convoy.actors.pipeline.JobSampling;
import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.SamplingParams;
import ai.convoy.proto.TokenIds;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.bench.Benchmark;
import ai.convoy.runtime.bench.DecodeWindow;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * convoy bench --through-runtime: jobs submitted to the coordinator and stage actors, as convoy serve and convoy run
 * submit them, a batch size's worth at a time; their decode speed while every one of them decodes ({@link DecodeWindow}).
 */
final class RuntimeBench {
    /** Decode speed through the runtime at one batch size, greedy and sampled. */
    record Row(int batch, DecodeWindow greedy, DecodeWindow sampled) {
    }

    private static final long JOB_SECONDS = 600;

    private RuntimeBench() {
    }

    static List<Row> measure(Path model, Planner.Request request, QuantizationOptions options, ModelConfig config, int[] batchSizes,
                             int promptLen, int genLen, PrintWriter err) {
        List<Row> rows = new ArrayList<>();
        try (PipelineRuntime runtime = PipelineRuntime.start(model, request, options,
                s -> PipelineRuntime.backendFor(s.device(), request.kvBytesGpu()))) {
            // the actors' first steps and the JIT's compilation of their path stay out of the figures
            run(runtime, config, 1, promptLen, Math.min(genLen, 8), false, "warm-up");
            for (int batch : batchSizes) {
                DecodeWindow greedy = run(runtime, config, batch, promptLen, genLen, false, "greedy-" + batch);
                DecodeWindow sampled = run(runtime, config, batch, promptLen, genLen, true, "sampled-" + batch);
                rows.add(new Row(batch, greedy, sampled));
                err.printf("convoy: measured batch %d through the runtime%n", batch);
                err.flush();
            }
        }
        return rows;
    }

    /** {@code batch} jobs at once, each of a {@code promptLen}-token prompt and {@code genLen} new tokens. */
    private static DecodeWindow run(PipelineRuntime runtime, ModelConfig config, int batch, int promptLen, int genLen, boolean sampled,
                                    String name) {
        List<List<Long>> arrivals = new ArrayList<>();
        List<CompletableFuture<JobEvent>> ends = new ArrayList<>();
        for (int j = 0; j < batch; j++) {
            TokenIds.Builder prompt = TokenIds.newBuilder();
            for (int i = 0; i < promptLen; i++) {
                prompt.addIds((1000 + 7 * i + 13 * j) % config.vocabSize());
            }
            SamplingParams.Builder sampling = sampled ? JobSampling.toProto(Benchmark.SAMPLED).toBuilder().setSeed(j) : SamplingParams.newBuilder();
            sampling.setMaxNewTokens(genLen);
            List<Long> times = java.util.Collections.synchronizedList(new ArrayList<>());
            arrivals.add(times);
            ends.add(runtime.submit(JobRequest.newBuilder().setJobId("bench-" + name + "-" + j).setTokenIds(prompt).setSampling(sampling).build(),
                    e -> {
                        if (e.hasTokens()) {
                            long now = System.nanoTime();
                            for (int k = 0; k < e.getTokens().getIdsCount(); k++) {
                                times.add(now);
                            }
                        }
                    }));
        }
        for (CompletableFuture<JobEvent> end : ends) {
            JobEvent last;
            try {
                last = end.get(JOB_SECONDS, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ConvoyException("interrupted");
            } catch (ExecutionException | TimeoutException e) {
                throw new ConvoyException("a job through the runtime did not end: " + e);
            }
            if (!last.hasDone()) {
                throw new ConvoyException("a job through the runtime failed: " + last.getFailed().getMessage());
            }
        }
        try {
            return DecodeWindow.of(arrivals.stream().map(t -> t.stream().mapToLong(Long::longValue).toArray()).toList());
        } catch (IllegalArgumentException e) {
            throw new ConvoyException("through the runtime at batch " + batch + ": " + e.getMessage() + " (give a longer --gen-len)");
        }
    }

    static void print(PrintWriter out, List<Row> rows, Benchmark.Result direct) {
        out.printf("%nthrough the runtime (jobs submitted to the coordinator and stage actors; decode while every job decodes):%n");
        out.printf("%-6s %12s %13s %10s %14s %10s%n", "batch", "direct tok/s", "greedy tok/s", "of direct", "sampled tok/s", "of direct");
        for (Row r : rows) {
            double d = directTokensPerSecond(direct, r.batch());
            out.printf("%-6d %12.1f %13.1f %9.0f%% %14.1f %9.0f%%%n", r.batch(), d, r.greedy().tokensPerSecond(), 100 * r.greedy().tokensPerSecond() / d,
                    r.sampled().tokensPerSecond(), 100 * r.sampled().tokensPerSecond() / d);
        }
        out.printf("(sampled: %s, a seed per job)%n", Benchmark.sampledSettings());
        out.flush();
    }

    static void addTo(ObjectNode root, List<Row> rows, Benchmark.Result direct) {
        ArrayNode through = root.putArray("throughRuntime");
        for (Row r : rows) {
            ObjectNode o = through.addObject().put("batch", r.batch()).put("directTokensPerSecond", directTokensPerSecond(direct, r.batch()));
            o.put("greedyTokensPerSecond", r.greedy().tokensPerSecond()).put("greedyMsPerStep", r.greedy().secondsPerStep() * 1e3);
            o.put("sampledTokensPerSecond", r.sampled().tokensPerSecond()).put("sampledMsPerStep", r.sampled().secondsPerStep() * 1e3);
        }
    }

    private static double directTokensPerSecond(Benchmark.Result direct, int batch) {
        return direct.decode().stream().filter(d -> d.batch() == batch).findFirst().orElseThrow().tokensPerSecond();
    }
}
