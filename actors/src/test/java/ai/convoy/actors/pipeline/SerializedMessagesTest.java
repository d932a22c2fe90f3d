package ai.convoy.actors.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.Backend;
import ai.convoy.kernels.BudgetedBackend;
import ai.convoy.proto.JobRequest;
import ai.convoy.runtime.model.EmbeddedModel;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.ModelShapes;
import ai.convoy.runtime.pipeline.HiddenStates;
import ai.convoy.runtime.pipeline.MicroBatch;
import ai.convoy.runtime.pipeline.SequenceChanges;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;

/**
 * Every message the pipeline's actors send is serialized and read back (Pekko's serialize-messages), with Java
 * serialization off: jobs and events as Protobuf, the pipeline's own messages with Kryo, and jobs still end as they
 * do alone, through a stage restart and an out-of-memory re-plan.
 */
class SerializedMessagesTest {
    static final Config SERIALIZED = ConfigFactory.parseString("pekko.actor.serialize-messages = on").withFallback(ConfigFactory.load());

    @Test
    void javaSerializationIsOffAndEveryMessageHasItsSerializer() {
        assertEquals("off", ConfigFactory.load().getString("pekko.actor.allow-java-serialization"));
        assertEquals("on", SERIALIZED.getString("pekko.actor.serialize-messages"));
    }

    @Test
    void jobsThroughSerializedMessagesEndAsAlone() throws Exception {
        List<JobRequest> jobs = OutOfMemoryTest.jobs(12, 6, 30);
        List<Device> devices = PipelineRuntimeTest.threeSimsAndCpu();
        Planner.Request request = StageSupervisionTest.plan(devices);
        long left = StageSupervisionTest.weightsAndAThirdOfTheKvCache(request, devices.get(1));
        AtomicInteger shrink = new AtomicInteger(20);
        AtomicInteger fail = new AtomicInteger(9);
        AtomicInteger sim0Loads = new AtomicInteger();
        try (PipelineRuntime runtime = PipelineRuntime.start(OutOfMemoryTest.REF.dir(), request, QuantizationOptions.NONE, s -> {
            Backend b = PipelineRuntime.backendFor(s.device(), 4);
            return switch (s.device().id()) {
                case "sim:1" -> new StageSupervisionTest.LeavesOnly((BudgetedBackend) b, shrink, left);
                case "sim:0" -> sim0Loads.incrementAndGet() == 1 ? new StageRestartTest.FailOnce(fail) : b;
                default -> b;
            };
        }, SERIALIZED)) {
            List<int[]> got = PipelineRuntimeTest.runAll(runtime, jobs);
            OutOfMemoryTest.assertSameAsSolo(jobs, got);
            assertTrue(fail.get() <= 0 && sim0Loads.get() > 1, "a stage restarted");
            Coordinator.Load load = runtime.load();
            assertEquals(1, load.stageRestarts(), "the restart is counted: " + load);
            assertTrue(load.replayedSequences() >= 1, "and the sequences it replayed: " + load);
            assertTrue(!runtime.limits().replans().isEmpty(), "an out-of-memory re-planned, its failure read back from bytes");
            assertTrue(runtime.stats().size() >= 3, "stats replies cross too");
        }
    }

    /** What a decode step of 16 sequences puts on the wire between two stages, per token, against the plan's figure. */
    @Test
    void aHopCarriesThePlansBytesPerTokenWithinTenPercent() {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "hop", ConfigFactory.load());
        try {
            var serialization = org.apache.pekko.serialization.SerializationExtension.get(Adapter.toClassic(system));
            for (ModelConfig config : List.of(ModelConfig.read(EmbeddedModel.directory()), ModelShapes.config("llama3-8b"))) {
                int rows = 16;
                long[] sequences = new long[rows];
                int[] positions = new int[rows];
                int[] tokens = new int[rows];
                for (int i = 0; i < rows; i++) {
                    sequences[i] = 1_000 + i;
                    positions[i] = 500 + i;
                    tokens[i] = 100_000 + i;
                }
                MicroBatch batch = new MicroBatch(42, SequenceChanges.NONE, sequences, positions, tokens,
                        new HiddenStates(rows, config.hiddenSize(), new float[rows * config.hiddenSize()]), new int[0]);
                StageActor.Run run = new StageActor.Run(batch);
                double perToken = serialization.findSerializerFor(run).toBinary(run).length / (double) rows;
                long planned = Planner.hopBytesPerToken(config);
                System.out.printf("hidden %d: %.1f bytes a token on the wire, %d planned%n", config.hiddenSize(), perToken, planned);
                assertTrue(Math.abs(perToken - planned) <= 0.1 * planned, perToken + " bytes a token against " + planned + " planned");
            }
        } finally {
            system.terminate();
        }
    }
}
