package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
        }
        assertTrue(report.path("prefillSeconds").asDouble() > 0, report.toString());
        assertEquals("cpu", report.path("devices").get(0).path("device").asText());
    }

    @Test
    void badOptionsAreOneLineErrors() {
        for (String[] args : new String[][] {{"--shape", "llama3.2-1b", "--devices", "cpu", "--batch-sizes", "0"},
            {"--shape", "gpt-5", "--devices", "cpu"}}) {
            BadInputTest.assertOneLineError(CliRun.of(Stream.concat(Stream.of("bench"), Arrays.stream(args)).toList()));
        }
    }
}
