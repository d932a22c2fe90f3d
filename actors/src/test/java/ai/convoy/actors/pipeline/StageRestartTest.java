package ai.convoy.actors.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.convoy.kernels.Activations;
import ai.convoy.kernels.ForwardingBackend;
import ai.convoy.kernels.WeightMatrix;
import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.proto.JobRequest;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.quant.QuantizationOptions;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** A stage that throws mid-run is reloaded from its weights and every job still ends as it does alone. */
class StageRestartTest {

    /** Throws once, on the n-th residual product (o or down) across all its instances. */
    static final class FailOnce extends ForwardingBackend {
        private final AtomicInteger countdown;

        FailOnce(AtomicInteger countdown) {
            super(new CpuBackend());
            this.countdown = countdown;
        }

        @Override
        public void matmulAdd(Activations x, WeightMatrix w, Activations acc) {
            if (countdown.decrementAndGet() == 0) {
                throw new IllegalStateException("injected failure");
            }
            super.matmulAdd(x, w, acc);
        }
    }

    @Test
    void aStageThatThrowsIsRestartedAndEveryJobCompletesIdentically() {
        List<JobRequest> jobs = OutOfMemoryTest.jobs(12, 9, 20);
        ModelConfig c = ModelConfig.read(OutOfMemoryTest.REF.dir());
        List<PipelineRuntime.StageSpec> specs = PipelineRuntimeTest.split(c.layers(), PipelineRuntimeTest.threeSimsAndCpu().subList(0, 3));
        AtomicInteger countdown = new AtomicInteger(100);
        try (PipelineRuntime runtime = PipelineRuntime.start(OutOfMemoryTest.REF.dir(), specs, QuantizationOptions.NONE, 12,
                s -> s == specs.get(1) ? new FailOnce(countdown) : new CpuBackend())) {
            List<int[]> got = PipelineRuntimeTest.runAll(runtime, jobs);
            OutOfMemoryTest.assertSameAsSolo(jobs, got);
        }
        assertEquals(true, countdown.get() < 0, "the failure was injected: " + countdown.get());
    }
}
