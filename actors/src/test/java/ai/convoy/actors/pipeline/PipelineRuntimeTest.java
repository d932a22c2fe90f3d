package ai.convoy.actors.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.proto.Done;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.proto.SamplingParams;
import ai.convoy.proto.TokenIds;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.generate.Generator;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class PipelineRuntimeTest {

    /** n layers over the given devices, as evenly as the count allows; embeddings first, head last. */
    static List<PipelineRuntime.StageSpec> split(int layers, List<Device> devices) {
        List<PipelineRuntime.StageSpec> out = new ArrayList<>();
        int first = 0;
        for (int i = 0; i < devices.size(); i++) {
            int count = layers / devices.size() + (i < layers % devices.size() ? 1 : 0);
            out.add(new PipelineRuntime.StageSpec(devices.get(i), first, first + count - 1, i == 0, i == devices.size() - 1));
            first += count;
        }
        return out;
    }

    static List<Device> threeSimsAndCpu() {
        List<Device> d = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            d.add(new Device(Device.Kind.SIM, i, "sim", 64L << 20, 64L << 20));
        }
        d.add(new Device(Device.Kind.CPU, 0, "cpu", 1L << 30, 1L << 30));
        return d;
    }

    static JobRequest job(String id, int[] prompt, int maxNew, float temperature, long seed) {
        TokenIds.Builder ids = TokenIds.newBuilder();
        for (int t : prompt) {
            ids.addIds(t);
        }
        SamplingParams.Builder s = SamplingParams.newBuilder().setMaxNewTokens(maxNew).setTemperature(temperature).setSeed(seed).addStopTokenIds(-1);
        if (temperature > 0) {
            s.setTopK(20).setTopP(0.9f);
        }
        return JobRequest.newBuilder().setJobId(id).setTokenIds(ids).setSampling(s).build();
    }

    /** The same job on the single-device engine. */
    static int[] solo(Model model, JobRequest r) {
        int[] prompt = r.getTokenIds().getIdsList().stream().mapToInt(Integer::intValue).toArray();
        ai.convoy.runtime.generate.SamplingParams params = JobSampling.fromProto(r.getSampling(), List.of());
        return new Generator(model.transformer()).generate(List.of(new Generator.Request(prompt, params)), (q, t) -> { }).getFirst().tokens();
    }

    /** Runs the jobs concurrently; returns each job's generated ids, checking the event order. */
    static List<int[]> runAll(PipelineRuntime runtime, List<JobRequest> jobs) {
        List<List<Integer>> tokens = new ArrayList<>();
        List<CompletableFuture<JobEvent>> done = new ArrayList<>();
        for (JobRequest j : jobs) {
            List<Integer> ids = Collections.synchronizedList(new ArrayList<>());
            List<JobEvent> events = Collections.synchronizedList(new ArrayList<>());
            tokens.add(ids);
            done.add(runtime.submit(j, e -> {
                events.add(e);
                if (e.hasTokens()) {
                    ids.addAll(e.getTokens().getIdsList());
                }
            }).thenApply(last -> {
                assertTrue(events.getFirst().hasAccepted(), "accepted first");
                assertTrue(last.hasDone(), j.getJobId() + " done: " + last);
                assertEquals(ids.size(), last.getDone().getUsage().getGeneratedTokens());
                return last;
            }));
        }
        CompletableFuture.allOf(done.toArray(CompletableFuture[]::new)).join();
        return tokens.stream().map(l -> l.stream().mapToInt(Integer::intValue).toArray()).toList();
    }

    @Test
    void threeSimulatedGpusAndTheCpuEqualTheSingleDeviceEngine() {
        for (ParityModels.Reference ref : ParityModels.all()) {
            for (QuantizationOptions.Method m : new QuantizationOptions.Method[] {QuantizationOptions.Method.NONE, QuantizationOptions.Method.NF4}) {
                QuantizationOptions q = QuantizationOptions.of(m);
                ModelConfig c = ModelConfig.read(ref.dir());
                JobRequest j = job("parity", ref.promptIds(), 24, 0f, 0);
                try (Model single = Model.open(ref.dir(), new CpuBackend(), q);
                     PipelineRuntime runtime = PipelineRuntime.start(ref.dir(), split(c.layers(), threeSimsAndCpu()), q, 8)) {
                    assertArrayEquals(solo(single, j), runAll(runtime, List.of(j)).getFirst(), ref + " " + m);
                }
            }
        }
    }

    @Test
    void thirtyTwoConcurrentJobsEachEqualTheirSoloRun() {
        ParityModels.Reference ref = ParityModels.named("mistral-swa");
        ModelConfig c = ModelConfig.read(ref.dir());
        SplittableRandom rnd = new SplittableRandom(11);
        List<JobRequest> jobs = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            int[] prompt = new int[rnd.nextInt(1, 40)];
            for (int k = 0; k < prompt.length; k++) {
                prompt[k] = rnd.nextInt(3, c.vocabSize());
            }
            jobs.add(job("job-" + i, prompt, rnd.nextInt(1, 30), i % 2 == 0 ? 0f : 0.8f, 100 + i));
        }
        Path dir = ref.dir();
        try (Model single = Model.open(dir, new CpuBackend());
             PipelineRuntime runtime = PipelineRuntime.start(dir, split(c.layers(), threeSimsAndCpu().subList(0, 3)), QuantizationOptions.NONE, 16)) {
            List<int[]> got = runAll(runtime, jobs);
            for (int i = 0; i < jobs.size(); i++) {
                assertArrayEquals(solo(single, jobs.get(i)), got.get(i), jobs.get(i).getJobId());
            }
        }
    }

    @Test
    void cancelEndsAJobAtOnceAndLeavesTheOthersUnchanged() {
        ParityModels.Reference ref = ParityModels.named("llama-tied-headdim");
        ModelConfig c = ModelConfig.read(ref.dir());
        JobRequest longJob = job("long", ref.promptIds(), 100, 0f, 0);
        JobRequest other = job("other", new int[] {5, 6, 7}, 20, 0f, 0);
        try (Model single = Model.open(ref.dir(), new CpuBackend());
             PipelineRuntime runtime = PipelineRuntime.start(ref.dir(), split(c.layers(), threeSimsAndCpu().subList(0, 2)), QuantizationOptions.NONE, 4)) {
            java.util.concurrent.CountDownLatch started = new java.util.concurrent.CountDownLatch(3);
            List<Integer> longTokens = Collections.synchronizedList(new ArrayList<>());
            CompletableFuture<JobEvent> cancelled = runtime.submit(longJob, e -> {
                if (e.hasTokens()) {
                    longTokens.addAll(e.getTokens().getIdsList());
                    started.countDown();
                }
            });
            List<Integer> otherTokens = Collections.synchronizedList(new ArrayList<>());
            CompletableFuture<JobEvent> finished = runtime.submit(other, e -> {
                if (e.hasTokens()) {
                    otherTokens.addAll(e.getTokens().getIdsList());
                }
            });
            assertTrue(assertDoesNotThrow(() -> started.await(30, java.util.concurrent.TimeUnit.SECONDS)));
            runtime.cancel("long");
            JobEvent end = cancelled.join();
            assertEquals(Done.Reason.CANCELLED, end.getDone().getReason());
            assertTrue(longTokens.size() < 100, "stopped early: " + longTokens.size());
            assertTrue(finished.join().hasDone());
            assertArrayEquals(solo(single, other), otherTokens.stream().mapToInt(Integer::intValue).toArray());
            // the pipeline keeps working after the cancel
            assertArrayEquals(solo(single, other), runAll(runtime, List.of(job("again", new int[] {5, 6, 7}, 20, 0f, 0))).getFirst());
        }
    }

    @Test
    void invalidJobsFailWithAReasonAndOthersGoOn() {
        ParityModels.Reference ref = ParityModels.named("qwen2-bias");
        ModelConfig c = ModelConfig.read(ref.dir());
        try (PipelineRuntime runtime = PipelineRuntime.start(ref.dir(), split(c.layers(), threeSimsAndCpu().subList(0, 2)), QuantizationOptions.NONE, 4)) {
            JobEvent bad = runtime.submit(job("bad", new int[] {5, 99999}, 3, 0f, 0), e -> { }).join();
            assertTrue(bad.hasFailed());
            assertTrue(bad.getFailed().getMessage().contains("99999"), bad.toString());
            JobEvent text = runtime.submit(JobRequest.newBuilder().setJobId("text").setText("hello").build(), e -> { }).join();
            assertTrue(text.getFailed().getMessage().contains("tokenizer"), text.toString());
            JobEvent good = runtime.submit(job("good", ref.promptIds(), 5, 0f, 0), e -> { }).join();
            assertEquals(Done.Reason.MAX_NEW_TOKENS, good.getDone().getReason());
        }
    }
}
