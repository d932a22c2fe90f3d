package ai.convoy.actors.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.proto.JobRequest;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.SyntheticCheckpoint;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.plan.Footprint;
import ai.convoy.runtime.plan.Plan;
import ai.convoy.runtime.plan.Planner;
import ai.convoy.runtime.quant.QuantizationOptions;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A prompt longer than the planner's prefill chunk runs in chunks of it: the device planned for that never runs out. */
class PrefillChunkTest {
    @TempDir
    Path tmp;

    @Test
    void aLongPromptIsPrefilledInThePlannersChunks() throws Exception {
        ObjectNode config = (ObjectNode) new ObjectMapper().readTree("""
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048,
                 "vocab_size": 512, "tie_word_embeddings": false, "rms_norm_eps": 1e-5, "rope_theta": 10000.0}""");
        Path model = tmp.resolve("model");
        SyntheticCheckpoint.write(config, model, 3, Long.MAX_VALUE, p -> { });
        ModelConfig c = ModelConfig.read(model);
        Footprint footprint = Footprint.of(c, QuantizationOptions.NONE);
        Device roomy = new Device(Device.Kind.SIM, 0, "sim", 1L << 30, 1L << 30);
        Plan sized = Planner.plan(new Planner.Request(footprint, List.of(roomy), Planner.Strategy.BALANCED, 1, 2048, 4, Map.of()));
        long need = sized.account(roomy).total();
        // the device holds exactly what the plan says, and a little: a 1,500-row step would not fit, 512-row chunks do
        Device exact = new Device(Device.Kind.SIM, 0, "sim", need + (64 << 10), need + (64 << 10));
        Planner.Request request = new Planner.Request(footprint, List.of(exact), Planner.Strategy.BALANCED, 1, 2048, 4, Map.of());
        int[] prompt = new int[1500];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = (i * 7 + 3) % 512;
        }
        JobRequest job = PipelineRuntimeTest.job("long", prompt, 4, 0f, 0);
        try (PipelineRuntime runtime = PipelineRuntime.start(model, request, QuantizationOptions.NONE,
                s -> PipelineRuntime.backendFor(s.device(), 4))) {
            int[] got = PipelineRuntimeTest.runAll(runtime, List.of(job)).getFirst();
            assertEquals(Planner.PREFILL_CHUNK, runtime.limits().maxRows(), "no out-of-memory lowered the rows");
            try (Model single = Model.open(model, new CpuBackend())) {
                assertArrayEquals(PipelineRuntimeTest.solo(single, job), got);
            }
        }
    }
}
