package ai.convoy.actors.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.Backend;
import ai.convoy.kernels.BudgetedBackend;
import ai.convoy.kernels.ForwardingBackend;
import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.proto.JobEvent;
import ai.convoy.proto.JobRequest;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Footprint;
import ai.convoy.runtime.plan.Plan;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Faults that a restart cannot mend: a planned run places the model again over the devices left and every job
 * completes as it would have; otherwise every job ends at once with the reason. None is left without a terminal
 * event. 50 jobs through each fault, on simulated devices, within 10 seconds.
 */
class StageSupervisionTest {
    static final int JOBS = 50;

    /** Throws on every residual product (o or down), as a device that has gone bad does. */
    static final class AlwaysFails extends ForwardingBackend {
        AlwaysFails() {
            super(new CpuBackend());
        }

        @Override
        public void matmulAdd(Activations x, WeightMatrix w, Activations acc) {
            throw new IllegalStateException("injected: the device fails every step");
        }
    }

    /** Every job's last event, within the deadline. */
    private static List<JobEvent> runAll(Function<PipelineRuntime.StageSpec, Backend> backends, List<PipelineRuntime.StageSpec> specs)
            throws Exception {
        List<JobRequest> jobs = OutOfMemoryTest.jobs(JOBS, 6, 8);
        try (PipelineRuntime runtime = PipelineRuntime.start(OutOfMemoryTest.REF.dir(), specs, QuantizationOptions.NONE, 8, backends)) {
            long start = System.nanoTime();
            List<CompletableFuture<JobEvent>> ends = new ArrayList<>();
            for (JobRequest j : jobs) {
                ends.add(runtime.submit(j, e -> { }));
            }
            CompletableFuture.allOf(ends.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
            System.out.printf("%d jobs ended in %.2f s%n", JOBS, (System.nanoTime() - start) / 1e9);
            return ends.stream().map(CompletableFuture::join).toList();
        }
    }

    private static List<PipelineRuntime.StageSpec> specs() {
        ModelConfig c = ModelConfig.read(OutOfMemoryTest.REF.dir());
        return PipelineRuntimeTest.split(c.layers(), PipelineRuntimeTest.threeSimsAndCpu().subList(0, 3));
    }

    /** A plan over the devices, as convoy run makes one: batches of 8, a context of 64, a float32 KV cache. */
    static Planner.Request plan(List<Device> devices) {
        ModelConfig c = ModelConfig.read(OutOfMemoryTest.REF.dir());
        return new Planner.Request(Footprint.of(c, QuantizationOptions.NONE), devices, Planner.Strategy.BALANCED, 8, 64, 4, java.util.Map.of());
    }

    /** What another process leaves a device of the plan: its weights, a third of the planned KV cache and a decode step's workspace. */
    static long weightsAndAThirdOfTheKvCache(Planner.Request request, Device device) {
        Plan.Account planned = Planner.plan(request).account(device);
        return planned.weights() + planned.kvCache() / 3 + planned.workspace() / 8;
    }

    /** A plan over the devices; sim:1's backend from {@code sim1}. */
    private static PipelineRuntime planned(List<Device> devices, java.util.function.Supplier<Backend> sim1) {
        return PipelineRuntime.start(OutOfMemoryTest.REF.dir(), plan(devices), QuantizationOptions.NONE,
                s -> s.device().id().equals("sim:1") ? sim1.get() : PipelineRuntime.backendFor(s.device(), 4));
    }

    private static List<Device> sims(long... budgets) {
        List<Device> d = new ArrayList<>();
        for (int i = 0; i < budgets.length; i++) {
            d.add(new Device(Device.Kind.SIM, i, "sim", budgets[i], budgets[i]));
        }
        return d;
    }

    @Test
    void aLostStageIsPlannedAwayAndEveryJobCompletesAsItWouldUndisturbed() throws Exception {
        List<JobRequest> jobs = OutOfMemoryTest.jobs(JOBS, 6, 8);
        List<Device> devices = PipelineRuntimeTest.threeSimsAndCpu();
        try (PipelineRuntime runtime = planned(devices, AlwaysFails::new)) {
            assertTrue(runtime.stages().stream().anyMatch(s -> s.device().id().equals("sim:1")), "sim:1 holds a stage at first");
            long start = System.nanoTime();
            List<int[]> got = PipelineRuntimeTest.runAll(runtime, jobs);
            System.out.printf("%d jobs through a lost stage in %.2f s%n", JOBS, (System.nanoTime() - start) / 1e9);
            OutOfMemoryTest.assertSameAsSolo(jobs, got);
            assertTrue(runtime.stages().stream().noneMatch(s -> s.device().id().equals("sim:1")), "sim:1 is planned away: " + runtime.stages());
        }
    }

    /** A simulated GPU from which another process takes nearly all memory at its n-th residual product. */
    static final class ShrinksMidRun extends ForwardingBackend {
        private final BudgetedBackend device;
        private final AtomicInteger countdown;

        ShrinksMidRun(BudgetedBackend device, AtomicInteger countdown) {
            super(device);
            this.device = device;
            this.countdown = countdown;
        }

        @Override
        public void matmulAdd(Activations x, WeightMatrix w, Activations acc) {
            if (countdown.decrementAndGet() == 0) {
                // what is left for this process is half what it holds: less than its weights
                device.takenByOthers(device.budget() - device.used() / 2);
            }
            super.matmulAdd(x, w, acc);
        }
    }

    @Test
    void aDeviceWhoseFreeMemoryDropsBelowItsWeightsHasItsLayersPlacedElsewhere() throws Exception {
        List<JobRequest> jobs = OutOfMemoryTest.jobs(JOBS, 6, 8);
        List<Device> devices = PipelineRuntimeTest.threeSimsAndCpu();
        AtomicInteger countdown = new AtomicInteger(30);
        AtomicInteger sim1Loads = new AtomicInteger();
        Planner.Request request = plan(devices);
        try (PipelineRuntime runtime = PipelineRuntime.start(OutOfMemoryTest.REF.dir(), request, QuantizationOptions.NONE, s -> {
            Backend b = PipelineRuntime.backendFor(s.device(), 4);
            return s.device().id().equals("sim:1") && sim1Loads.incrementAndGet() == 1 ? new ShrinksMidRun((BudgetedBackend) b, countdown) : b;
        })) {
            long start = System.nanoTime();
            List<int[]> got = PipelineRuntimeTest.runAll(runtime, jobs);
            System.out.printf("%d jobs through a device that shrank in %.2f s%n", JOBS, (System.nanoTime() - start) / 1e9);
            assertTrue(countdown.get() <= 0, "the memory was taken");
            OutOfMemoryTest.assertSameAsSolo(jobs, got);
            assertTrue(runtime.stages().stream().noneMatch(s -> s.device().id().equals("sim:1") && s.firstLayer() <= s.lastLayer()),
                    "sim:1 holds no layers now: " + runtime.stages());
        }
    }

    @Test
    void aDeviceWhoseFreeMemoryDropsTakesThePlannersLimitsForWhatIsLeftAndRunsOn() throws Exception {
        List<JobRequest> jobs = OutOfMemoryTest.jobs(JOBS, 6, 50);
        List<Device> devices = PipelineRuntimeTest.threeSimsAndCpu();
        Planner.Request request = plan(devices);
        Footprint footprint = request.model();
        long left = weightsAndAThirdOfTheKvCache(request, devices.get(1));
        AtomicInteger countdown = new AtomicInteger(30);
        try (PipelineRuntime runtime = PipelineRuntime.start(OutOfMemoryTest.REF.dir(), request, QuantizationOptions.NONE, s -> {
            Backend b = PipelineRuntime.backendFor(s.device(), 4);
            return s.device().id().equals("sim:1") ? new LeavesOnly((BudgetedBackend) b, countdown, left) : b;
        })) {
            List<PipelineRuntime.StageSpec> stages = runtime.stages();
            long start = System.nanoTime();
            List<int[]> got = PipelineRuntimeTest.runAll(runtime, jobs);
            System.out.printf("%d jobs through a device with a third of its KV cache in %.2f s%n", JOBS, (System.nanoTime() - start) / 1e9);
            assertTrue(countdown.get() <= 0, "the memory was taken");
            OutOfMemoryTest.assertSameAsSolo(jobs, got);
            assertEquals(stages, runtime.stages(), "the weights still fit: nothing moved");
            List<Coordinator.MemoryReplan> replans = runtime.limits().replans();
            assertTrue(!replans.isEmpty(), "an out-of-memory re-planned the limits");
            for (Coordinator.MemoryReplan r : replans) {
                PipelineRuntime.StageSpec s = stages.get(StageActor.indexOf(r.stage()));
                assertEquals("sim:1", s.device().id(), r.toString());
                assertEquals(Planner.fit(footprint, new Planner.Part(s.device(), s.firstLayer(), s.lastLayer(), s.embedding(), s.head()), 4,
                        r.before(), r.bytes()), r.after(), r.toString());
                assertTrue(r.after().maxBatch() < r.before().maxBatch(), "fewer sequences: " + r);
                assertTrue(r.bytes() <= left, "the device's memory now: " + r);
            }
        }
    }

    /** A simulated GPU from which another process takes all but {@code left} bytes at its n-th residual product. */
    static final class LeavesOnly extends ForwardingBackend {
        private final BudgetedBackend device;
        private final AtomicInteger countdown;
        private final long left;

        LeavesOnly(BudgetedBackend device, AtomicInteger countdown, long left) {
            super(device);
            this.device = device;
            this.countdown = countdown;
            this.left = left;
        }

        @Override
        public void matmulAdd(Activations x, WeightMatrix w, Activations acc) {
            if (countdown.decrementAndGet() == 0) {
                device.takenByOthers(device.budget() - left);
            }
            super.matmulAdd(x, w, acc);
        }
    }

    @Test
    void whenNoPlanFitsTheDevicesLeftEveryJobFailsAtOnceNamingTheCause() throws Exception {
        // each stage of two needs about 1 MiB, the whole model on one device about 1.6 MiB (convoy plan)
        long budget = 5L << 18;
        List<JobRequest> jobs = OutOfMemoryTest.jobs(JOBS, 6, 8);
        try (PipelineRuntime runtime = planned(sims(budget, budget), AlwaysFails::new)) {
            assertEquals(2, runtime.stages().size(), "two stages: " + runtime.stages());
            List<CompletableFuture<JobEvent>> ends = new ArrayList<>();
            for (JobRequest j : jobs) {
                ends.add(runtime.submit(j, e -> { }));
            }
            CompletableFuture.allOf(ends.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
            for (CompletableFuture<JobEvent> f : ends) {
                JobEvent e = f.join();
                assertTrue(e.hasFailed() && e.getFailed().getMessage().contains("no plan fits the devices left")
                        && e.getFailed().getMessage().contains("injected"), e.toString());
            }
        }
    }

    @Test
    void aStageThatFailsEveryStepIsRestartedABoundedNumberOfTimesThenEveryJobFails() throws Exception {
        List<PipelineRuntime.StageSpec> specs = specs();
        AtomicInteger loads = new AtomicInteger();
        List<JobEvent> ends = runAll(s -> {
            if (s == specs.get(1)) {
                loads.incrementAndGet();
                return new AlwaysFails();
            }
            return new CpuBackend();
        }, specs);
        assertEquals(JOBS, ends.stream().filter(JobEvent::hasFailed).count(), "every job failed");
        for (JobEvent e : ends) {
            assertTrue(e.getFailed().getMessage().contains("stage-1") && e.getFailed().getMessage().contains("injected"), e.toString());
        }
        assertTrue(loads.get() <= 1 + StageActor.MAX_RESTARTS, "loads: " + loads.get());
    }

    @Test
    void aStageWhoseReloadFailsEndsEveryJob() throws Exception {
        List<PipelineRuntime.StageSpec> specs = specs();
        AtomicInteger loads = new AtomicInteger();
        AtomicInteger countdown = new AtomicInteger(40);
        List<JobEvent> ends = runAll(s -> {
            if (s != specs.get(1)) {
                return new CpuBackend();
            }
            if (loads.incrementAndGet() > 1) {
                throw new IllegalStateException("injected: the device is gone");
            }
            return new StageRestartTest.FailOnce(countdown);
        }, specs);
        long done = ends.stream().filter(JobEvent::hasDone).count();
        long failed = ends.stream().filter(JobEvent::hasFailed).count();
        assertEquals(JOBS, done + failed, "every job ended");
        assertTrue(failed > 0, "the jobs running when the stage was lost failed");
        for (JobEvent e : ends) {
            if (e.hasFailed()) {
                assertTrue(e.getFailed().getMessage().contains("reload failed") && e.getFailed().getMessage().contains("the device is gone"),
                        e.toString());
            }
        }
        assertEquals(2, loads.get(), "one load at the start, one failed reload, no more");
    }
}
