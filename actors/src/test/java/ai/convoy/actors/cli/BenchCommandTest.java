package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.model.EmbeddedModel;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** convoy bench on the CPU with the smallest known shape: its JSON report, and its errors for bad options. */
class BenchCommandTest {

    @Test
    void reportsEveryBatchSizeAndTheWeightsAStepReads() throws Exception {
        CliRun run = CliRun.of("bench", "--shape", "llama3.2-1b", "--devices", "cpu", "--batch-sizes", "1,2", "--prompt-len", "3",
                "--gen-len", "2", "--json");
        assertEquals(0, run.exitCode(), run.err());
        JsonNode report = new ObjectMapper().readTree(run.out());
        // llama3.2-1b: hidden 2048, 16 layers, q 2048, kv 512, intermediate 8192, vocab 128256, tied embeddings;
        // NF4 bytes: half a byte per weight and a float32 scale per 64 (the backend holds the scales expanded)
        long perLayer = 2048L * (2048 + 512 + 512 + 2048) + 3L * 2048 * 8192;
        long expected = 16 * (perLayer / 2 + perLayer / 64 * 4 + 2 * 2048 * 4) + 2048 * 4 + 128256L * 2048 * 2;
        assertEquals(expected, report.path("weightBytesReadPerStep").asLong());
        JsonNode decode = report.path("decode");
        assertEquals(2, decode.size());
        for (int i = 0; i < 2; i++) {
            JsonNode d = decode.get(i);
            int batch = i + 1;
            assertEquals(batch, d.path("batch").asInt());
            assertTrue(d.path("msPerStep").asDouble() > 0 && d.path("tokensPerSecond").asDouble() > 0, d.toString());
            assertEquals(batch * 1000 / d.path("sampledMsPerStep").asDouble(), d.path("sampledTokensPerSecond").asDouble(), 1e-6, d.toString());
        }
        assertTrue(report.path("prefillSeconds").asDouble() > 0, report.toString());
        assertEquals("cpu", report.path("devices").get(0).path("device").asText());
    }

    /** A checkpoint measured directly and through the coordinator and stage actors, on two simulated GPUs. */
    @Test
    void throughTheRuntimeBesideTheDirectFigures() throws Exception {
        CliRun run = CliRun.of("bench", "--model", EmbeddedModel.directory().toString(), "--devices", "sim:0=64MiB,sim:1=64MiB",
                "--quantization", "none", "--batch-sizes", "1,3", "--prompt-len", "8", "--gen-len", "24", "--through-runtime", "--json");
        assertEquals(0, run.exitCode(), run.err());
        JsonNode report = new ObjectMapper().readTree(run.out());
        JsonNode through = report.path("throughRuntime");
        assertEquals(2, through.size(), report.toString());
        for (int i = 0; i < 2; i++) {
            JsonNode t = through.get(i);
            JsonNode direct = report.path("decode").get(i);
            assertEquals(direct.path("batch").asInt(), t.path("batch").asInt());
            assertEquals(direct.path("tokensPerSecond").asDouble(), t.path("directTokensPerSecond").asDouble(), 1e-9);
            for (String mode : new String[] {"greedy", "sampled"}) {
                double tokensPerSecond = t.path(mode + "TokensPerSecond").asDouble();
                double msPerStep = t.path(mode + "MsPerStep").asDouble();
                // a step of b jobs gives b tokens
                assertEquals(t.path("batch").asInt() * 1000 / msPerStep, tokensPerSecond, tokensPerSecond * 1e-9, t.toString());
                assertTrue(tokensPerSecond > 0, t.toString());
            }
        }
    }

    @Test
    void badOptionsAreOneLineErrors() {
        for (String[] args : new String[][] {{"--shape", "llama3.2-1b", "--devices", "cpu", "--batch-sizes", "0"},
            {"--shape", "gpt-5", "--devices", "cpu"}, {"--shape", "llama3.2-1b", "--devices", "cpu", "--through-runtime"},
            {"--shape", "llama3.2-1b", "--model", "somewhere"}}) {
            BadInputTest.assertOneLineError(CliRun.of(Stream.concat(Stream.of("bench"), Arrays.stream(args)).toList()));
        }
    }
}
