package ai.convoy.actors.pipeline;

import ai.convoy.proto.JobRequest;
import ai.convoy.runtime.model.SyntheticCheckpoint;
import ai.convoy.runtime.plan.Device;
import ai.convoy.runtime.quant.QuantizationOptions;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * How much of the time each stage of a three-stage pipeline computes with 48 jobs in flight (a 6-layer random
 * model over three simulated GPUs on the CPU); prints a table. ops/bench/pipeline-utilisation runs it.
 */
public final class PipelineUtilisationBenchmark {
    private PipelineUtilisationBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path tmp = Files.createTempDirectory("convoy-utilisation");
        ObjectNode config = (ObjectNode) new ObjectMapper().readTree("""
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 512, "intermediate_size": 1536,
                 "num_hidden_layers": 6, "num_attention_heads": 8, "num_key_value_heads": 4, "max_position_embeddings": 512,
                 "vocab_size": 2000, "tie_word_embeddings": false, "rms_norm_eps": 1e-5, "rope_theta": 10000.0}""");
        Path model = tmp.resolve("model");
        SyntheticCheckpoint.write(config, model, 5, Long.MAX_VALUE, p -> { });
        List<Device> sims = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            sims.add(new Device(Device.Kind.SIM, i, "sim", 1L << 30, 1L << 30));
        }
        SplittableRandom rnd = new SplittableRandom(1);
        List<JobRequest> jobs = new ArrayList<>();
        for (int i = 0; i < 48; i++) {
            int[] prompt = new int[rnd.nextInt(4, 24)];
            for (int k = 0; k < prompt.length; k++) {
                prompt[k] = rnd.nextInt(2000);
            }
            jobs.add(PipelineRuntimeTest.job("u" + i, prompt, 24, 0f, 0));
        }
        try (PipelineRuntime runtime = PipelineRuntime.start(model, PipelineRuntimeTest.split(6, sims), QuantizationOptions.NONE, 48)) {
            PipelineRuntimeTest.runAll(runtime, jobs.subList(0, 3)); // warm-up
            List<StageActor.StageStats> before = runtime.stats();
            long start = System.nanoTime();
            PipelineRuntimeTest.runAll(runtime, jobs);
            double seconds = (System.nanoTime() - start) / 1e9;
            List<StageActor.StageStats> after = runtime.stats();
            System.out.printf("%d jobs of 24 tokens in %.2f s (%d cores)%n", jobs.size(), seconds, Runtime.getRuntime().availableProcessors());
            System.out.println("| stage | busy |");
            System.out.println("| --- | --- |");
            for (int s = 0; s < after.size(); s++) {
                double busy = (double) (after.get(s).busyNanos() - before.get(s).busyNanos())
                        / (after.get(s).aliveNanos() - before.get(s).aliveNanos());
                System.out.printf("| %d | %.0f%% |%n", s, 100 * busy);
            }
        }
    }
}
