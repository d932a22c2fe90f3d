package ai.convoy.actors.cli;

import ai.convoy.actors.pipeline.JobSampling;
import ai.convoy.actors.pipeline.PipelineRuntime;
import ai.convoy.actors.pipeline.StageActor;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.TokenIds;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.Npy;
import ai.convoy.runtime.generate.SamplingParams;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.plan.Plan;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.runtime.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;

/** convoy run through the actor pipeline: plan, print the plan, load the stages, run the jobs, report. */
final class PipelineRun {
    private PipelineRun() {
    }

    /**
     * @param batchSize live sequences at most; 0 detects it (1, 2, 4, ... up to the plan's max batch, the fastest that fits)
     */
    static void run(Path dir, ModelConfig config, QuantizationOptions options, PlanOptions planOptions, List<RunCommand.NumberedPrompt> prompts,
                    SamplingParams params, Tokenizer tokenizer, int batchSize, boolean stats, boolean printIds, Path logitsOut,
                    String startNotice, PrintWriter out, PrintWriter err) {
        Planner.Request request = planOptions.request(config, options, dir);
        Plan plan = Planner.plan(request);
        PipelineRuntime.requireDevicesHere(plan);
        if (startNotice != null) {
            err.println(startNotice);
        }
        PlanPrinter.print(err, plan, request, planOptions.kvDtype);
        err.flush();
        long loadStart = System.nanoTime();
        try (PipelineRuntime runtime = PipelineRuntime.start(dir, request, options, s -> PipelineRuntime.backendFor(s.device(), request.kvBytesGpu()))) {
            err.printf("convoy: loaded %d stages in %.3f s%n", runtime.stages().size(), (System.nanoTime() - loadStart) / 1e9);
            err.flush();
            int live = batchSize == 0 ? detectBatchSize(runtime, config, request.maxBatch(), err) : Math.min(batchSize, request.maxBatch());
            runtime.limitLive(live, batchSize == 0 ? "detected" : "--batch-size");
            List<NumberedJob> jobs = prompts.stream().map(p -> new NumberedJob(p.line(), request(p.line(), p.ids(), params).toBuilder()
                    .setPromptLogits(logitsOut != null).build())).toList();
            Outcome outcome = runJobs(runtime::submit, jobs, tokenizer != null, printIds, logitsOut, out, err);
            if (stats) {
                for (StageActor.StageStats s : runtime.stats()) {
                    err.printf("convoy: %s on %s: computing %.0f%% of the time%n", s.name(),
                            runtime.stages().get(StageActor.indexOf(s.name())).device().id(), 100 * s.utilisation());
                }
                err.flush();
            }
            outcome.requireAllDone();
        }
    }

    /** What runs jobs: the pipeline in this process, or a server. */
    interface Submitter {
        /** Submits a job; {@code events} sees each event; the future completes with the last (done or failed). */
        CompletableFuture<JobEvent> submit(JobRequest request, java.util.function.Consumer<JobEvent> events);
    }

    /** A job and the number that names it: its line in a prompts file. */
    record NumberedJob(int number, JobRequest request) {
    }

    /** How a set of jobs went: the failures, each in a line. */
    record Outcome(List<String> failures, int jobs) {
        void requireAllDone() {
            if (!failures.isEmpty()) {
                throw new ConvoyException(jobs == 1 ? failures.getFirst() : failures.size() + " of " + jobs + " jobs failed; the first, "
                        + failures.getFirst());
            }
        }
    }

    /**
     * Runs the jobs at once and prints what convoy run prints: a lone job's text as it comes (or its ids with
     * {@code printIds}), each of several jobs' text as a block when it ends, then the tokens per second of them all.
     * {@code textual}: the model has a tokenizer, so tokens print as their text, else as ids.
     */
    static Outcome runJobs(Submitter submitter, List<NumberedJob> numbered, boolean textual, boolean printIds, Path logitsOut, PrintWriter out,
                           PrintWriter err) {
        boolean single = numbered.size() == 1;
        PrintWriter stream = printIds ? err : out;
        long start = System.nanoTime();
        List<CompletableFuture<String>> jobs = new ArrayList<>();
        java.util.Queue<String> failed = new java.util.concurrent.ConcurrentLinkedQueue<>();
        List<List<Integer>> ids = new ArrayList<>();
        for (NumberedJob numberedJob : numbered) {
            int job = numberedJob.number();
            List<Integer> jobIds = new ArrayList<>();
            ids.add(jobIds);
            StringBuilder text = new StringBuilder();
            jobs.add(submitter.submit(numberedJob.request(), e -> {
                if (e.hasPromptLogits()) {
                    writeLogits(logitsOut, e.getPromptLogits());
                }
                if (e.hasTokens()) {
                    jobIds.addAll(e.getTokens().getIdsList());
                    String piece = textual ? e.getTokens().getText()
                            : e.getTokens().getIdsList().stream().map(String::valueOf).collect(Collectors.joining(" ", "", " "));
                    text.append(piece);
                    if (single) {
                        stream.print(piece);
                        stream.flush();
                    }
                }
            }).thenApply(last -> {
                if (last.hasFailed()) {
                    failed.add(single ? last.getFailed().getMessage() : "job " + job + ": " + last.getFailed().getMessage());
                    return "[job " + job + " failed: " + last.getFailed().getMessage() + "]";
                }
                if (!single) {
                    synchronized (out) {
                        out.printf("--- job %d (%d prompt tokens, %d generated, %s)%n%s%n", job, last.getDone().getUsage().getPromptTokens(),
                                last.getDone().getUsage().getGeneratedTokens(), last.getDone().getReason().name().toLowerCase(), text);
                        out.flush();
                    }
                }
                return text.toString();
            }));
        }
        CompletableFuture.allOf(jobs.toArray(CompletableFuture[]::new)).join();
        double seconds = (System.nanoTime() - start) / 1e9;
        if (single) {
            stream.println();
            stream.flush();
        }
        if (printIds) {
            ids.forEach(l -> out.println(l.stream().map(String::valueOf).collect(Collectors.joining(","))));
            out.flush();
        }
        long generated = ids.stream().mapToLong(List::size).sum();
        err.printf("convoy: %d job%s, %d tokens generated in %.2f s: %.1f tokens/s in all%n", numbered.size(), single ? "" : "s", generated,
                seconds, generated / seconds);
        err.flush();
        return new Outcome(List.copyOf(failed), numbered.size());
    }

    private static void writeLogits(Path file, ai.convoy.proto.PromptLogits logits) {
        int cols = logits.getCols();
        List<float[]> rows = new ArrayList<>();
        for (int r = 0; r < logits.getRows(); r++) {
            float[] row = new float[cols];
            for (int c = 0; c < cols; c++) {
                row[c] = logits.getValues(r * cols + c);
            }
            rows.add(row);
        }
        Npy.writeFloat32(file, logits.getRows(), cols, rows);
    }

    /**
     * Runs batches of 1, 2, 4, ... short synthetic jobs and keeps the size with the most tokens per second; stops at
     * the first size that does not fit (a job refused, or out-of-memory lowering the limit below it).
     */
    static int detectBatchSize(PipelineRuntime runtime, ModelConfig config, int maxBatch, PrintWriter err) {
        int promptLength = Math.max(1, Math.min(16, config.maxPositions() - 9));
        int[] prompt = new int[promptLength];
        for (int i = 0; i < promptLength; i++) {
            prompt[i] = i % config.vocabSize();
        }
        SamplingParams probe = new SamplingParams(0f, 0, 1f, 1f, java.util.OptionalLong.empty(), 8, List.of());
        int best = 1;
        double bestRate = 0;
        for (int b = 1; b <= maxBatch; b *= 2) {
            runtime.limitLive(b, "trying a batch of " + b);
            long start = System.nanoTime();
            List<CompletableFuture<JobEvent>> jobs = new ArrayList<>();
            for (int i = 0; i < b; i++) {
                jobs.add(runtime.submit(request(-1 - i, prompt, probe), e -> { }));
            }
            List<JobEvent> ends = jobs.stream().map(CompletableFuture::join).toList();
            double seconds = (System.nanoTime() - start) / 1e9;
            boolean fits = ends.stream().allMatch(JobEvent::hasDone) && runtime.limits().maxLive() >= b;
            if (!fits) {
                err.printf("convoy: batch size %d does not fit%n", b);
                break;
            }
            double rate = ends.stream().mapToLong(e -> e.getDone().getUsage().getGeneratedTokens()).sum() / seconds;
            err.printf("convoy: batch size %d: %.1f tokens/s%n", b, rate);
            if (rate > bestRate) {
                bestRate = rate;
                best = b;
            }
        }
        err.printf("convoy: batch size %d chosen%n", best);
        err.flush();
        return best;
    }

    private static JobRequest request(int job, int[] prompt, SamplingParams p) {
        TokenIds.Builder ids = TokenIds.newBuilder();
        for (int t : prompt) {
            ids.addIds(t);
        }
        return numbered(job, JobRequest.newBuilder().setTokenIds(ids), p);
    }

    /** Job {@code job} of a run with its sampling: each job of a seeded run gets a seed of its own, so that jobs with the same prompt differ. */
    static JobRequest numbered(int job, JobRequest.Builder prompt, SamplingParams p) {
        ai.convoy.proto.SamplingParams.Builder s = JobSampling.toProto(p).toBuilder();
        p.seed().ifPresent(seed -> s.setSeed(seed + job));
        return prompt.setJobId("job-" + job).setSampling(s).build();
    }
}
