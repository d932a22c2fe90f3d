package ai.convoy.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.ParityModels;
import ai.convoy.runtime.eval.Perplexity;
import ai.convoy.runtime.generate.Generator;
import ai.convoy.runtime.generate.SamplingParams;
import ai.convoy.runtime.pipeline.PipelineStage;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.runtime.tokenizer.Tokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The built-in model against what transformers computed from the same checkpoint when it was trained
 * (ops/default-model/train.py, reference.json): its tokenizer's ids, its perplexity on held-out text, its greedy ids.
 */
class DefaultModelParityTest {
    @TempDir
    static Path tmp;
    static Path dir;
    static JsonNode reference;
    static String sample;

    static Path resources() {
        return ParityModels.root().resolveSibling("default-model");
    }

    @BeforeAll
    static void unpack() throws IOException {
        dir = EmbeddedModel.unpackInto(tmp);
        reference = new ObjectMapper().readTree(resources().resolve("reference.json").toFile());
        List<String> lines = Files.readString(resources().resolve("heldout.txt")).lines().toList();
        sample = String.join("\n", lines.subList(0, reference.get("sample_lines").asInt())) + "\n";
    }

    private static int[] ints(JsonNode array) {
        return StreamSupport.stream(array.spliterator(), false).mapToInt(JsonNode::asInt).toArray();
    }

    private static double perplexity(QuantizationOptions q) {
        try (Model model = Model.open(dir, new CpuBackend(), q); PipelineStage stage = new PipelineStage(model.transformer())) {
            int[] ids = Tokenizer.load(dir).encode(sample, true);
            return Perplexity.of(List.of(stage), ids, reference.get("context").asInt(), reference.get("stride").asInt(), n -> { }).perplexity();
        }
    }

    @Test
    void tokenizerGivesTheIdsOfHuggingFaceTokenizers() {
        assertArrayEquals(ints(reference.get("sample_ids")), Tokenizer.load(dir).encode(sample, true));
    }

    @Test
    void perplexityOfHeldOutTextIsTransformers() {
        double expected = reference.get("perplexity").get("float32").get("sample").asDouble();
        double ours = perplexity(QuantizationOptions.NONE);
        System.out.printf("default model, held-out sample: convoy %.4f, transformers %.4f%n", ours, expected);
        assertEquals(expected, ours, 0.005 * expected);
    }

    @Test
    void nf4KeepsThePerplexityWithinFivePercent() {
        double bf16 = perplexity(QuantizationOptions.NONE);
        double nf4 = perplexity(new QuantizationOptions(QuantizationOptions.Method.NF4, 64, true, false, QuantizationOptions.ComputeDtype.BF16));
        System.out.printf("default model, held-out sample: bf16 %.4f, nf4 %.4f%n", bf16, nf4);
        assertTrue(nf4 > bf16 * 0.99 && nf4 < bf16 * 1.05, "nf4 " + nf4 + " against bf16 " + bf16);
    }

    @Test
    void greedyIdsAreTransformers() {
        JsonNode greedy = reference.get("greedy");
        int[] prompt = Tokenizer.load(dir).encode(greedy.get("prompt").asText(), true);
        assertArrayEquals(ints(greedy.get("prompt_ids")), prompt);
        int[] expected = ints(greedy.get("ids"));
        try (Model model = Model.open(dir, new CpuBackend())) {
            SamplingParams params = new SamplingParams(0f, 0, 1f, 1f, OptionalLong.empty(), expected.length, List.of());
            int[] ours = new Generator(model.transformer()).generate(List.of(new Generator.Request(prompt, params)), (s, t) -> { })
                    .getFirst().tokens();
            assertArrayEquals(java.util.Arrays.copyOf(expected, 16), java.util.Arrays.copyOf(ours, 16));
        }
    }
}
