package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.ParityModels;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.List;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlanCommandTest {
    private static final long GIB = 1L << 30;

    private static JsonNode json(CliRun run) throws IOException {
        return new ObjectMapper().readTree(run.out());
    }

    @Test
    void seventyBillionNf4OnFourConsumerGpus() throws IOException {
        CliRun run = CliRun.of("plan", "--shape", "llama3-70b", "--quantization", "nf4", "--max-batch-size", "8", "--max-context", "4096",
                "--max-memory", "0=22GiB,1=22GiB,2=22GiB,3=22GiB", "--json");
        assertEquals(0, run.exitCode(), run.err());
        JsonNode plan = json(run);
        assertTrue(plan.get("fits").asBoolean());
        int layers = 0;
        int expectedFirst = 0;
        for (JsonNode stage : plan.get("stages")) {
            assertTrue(stage.get("device").asText().startsWith("sim:") || stage.get("device").asText().startsWith("cuda:"));
            assertEquals(expectedFirst, stage.get("first_layer").asInt());
            expectedFirst = stage.get("last_layer").asInt() + 1;
            layers += stage.get("last_layer").asInt() - stage.get("first_layer").asInt() + 1;
            JsonNode b = stage.get("bytes");
            long total = b.get("weights").asLong() + b.get("kv_cache").asLong() + b.get("workspace").asLong() + b.get("overhead").asLong();
            assertTrue(total <= stage.get("budget").asLong());
            assertEquals(22 * GIB, stage.get("budget").asLong());
        }
        assertEquals(80, layers);
        assertEquals(4, plan.get("stages").size());
        assertEquals(plan.get("stages").get(0).get("device").asText(), plan.get("embed").asText());
    }

    @Test
    void seventyBillionOverTwoHostsOfACluster(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws IOException {
        java.nio.file.Path config = tmp.resolve("cluster.conf");
        java.nio.file.Files.writeString(config, """
                convoy.cluster.members = [
                  { name = "node-a", host = "10.0.0.1", port = 25520, devices = "cuda:0,cuda:1", max-memory = "0=22GiB,1=22GiB" }
                  { name = "node-b", host = "10.0.0.2", port = 25520, max-memory = "0=22GiB,1=22GiB" }
                ]
                """);
        String[] args = {"plan", "--shape", "llama3-70b", "--quantization", "nf4", "--max-batch-size", "8", "--max-context", "4096",
            "--cluster-config", config.toString()};
        CliRun table = CliRun.of(args);
        assertEquals(0, table.exitCode(), table.err());
        // one boundary between the members, charged with a token's float32 hidden state (8,192 wide) and its ids
        assertTrue(table.out().contains("node-a -> node-b after layer"), table.out());
        assertTrue(table.out().contains(": 32.02 KiB a token crosses the network"), table.out());
        String[] withJson = java.util.Arrays.copyOf(args, args.length + 1);
        withJson[args.length] = "--json";
        JsonNode plan = json(CliRun.of(withJson));
        List<String> devices = new java.util.ArrayList<>();
        int expectedFirst = 0;
        for (JsonNode stage : plan.get("stages")) {
            devices.add(stage.get("device").asText());
            assertEquals(expectedFirst, stage.get("first_layer").asInt());
            expectedFirst = stage.get("last_layer").asInt() + 1;
        }
        assertEquals(80, expectedFirst);
        assertEquals(List.of("node-a/cuda:0", "node-a/cuda:1", "node-b/cuda:0", "node-b/cuda:1"), devices);
    }

    @Test
    void twoGpusAndTheCpuSayTheyOffload() throws IOException {
        String[] args = {"plan", "--shape", "llama3-70b", "--quantization", "nf4", "--max-batch-size", "8", "--max-context", "4096",
            "--max-memory", "0=20GiB,1=20GiB,cpu=64GiB"};
        CliRun table = CliRun.of(args);
        assertEquals(0, table.exitCode(), table.err());
        assertTrue(table.out().matches("(?s).*offloads \\d+ of 80 layers to the CPU.*"), table.out());
        String[] withJson = java.util.Arrays.copyOf(args, args.length + 1);
        withJson[args.length] = "--json";
        JsonNode plan = json(CliRun.of(withJson));
        assertEquals("cpu", plan.get("stages").get(plan.get("stages").size() - 1).get("device").asText());
    }

    @Test
    void doesNotFitIsAOneLineErrorAndJsonSaysSo() throws IOException {
        CliRun run = CliRun.of("plan", "--shape", "llama3-70b", "--max-memory", "0=20GiB,1=20GiB", "--max-batch-size", "8");
        assertEquals(2, run.exitCode());
        assertTrue(run.err().startsWith("convoy: error: the model does not fit: needs "), run.err());
        assertEquals(1, run.err().lines().count());
        CliRun asJson = CliRun.of("plan", "--shape", "llama3-70b", "--max-memory", "0=20GiB,1=20GiB", "--json");
        assertEquals(2, asJson.exitCode());
        assertFalse(json(asJson).get("fits").asBoolean());
    }

    @Test
    void plansAModelDirectoryAndAManualMap(@TempDir Path tmp) throws IOException {
        Path map = tmp.resolve("map.json");
        Files.writeString(map, "{\"model.embed_tokens\": \"sim:0\", \"model.layers.0\": \"sim:0\", \"model.layers.1\": \"cpu\","
                + " \"model.layers.2\": \"cpu\", \"model.norm\": \"cpu\", \"lm_head\": \"cpu\"}");
        CliRun run = CliRun.of("plan", "--model", ParityModels.named("llama-gqa-rope3-sharded").dir().toString(), "--devices",
                "sim:0=64MiB,cpu", "--max-memory", "cpu=8GiB", "--strategy", map.toString(), "--json");
        assertEquals(0, run.exitCode(), run.err());
        JsonNode plan = json(run);
        assertEquals("sim:0", plan.get("stages").get(0).get("device").asText());
        assertEquals(0, plan.get("stages").get(0).get("last_layer").asInt());
        assertEquals("cpu", plan.get("lm_head").asText());
    }

    @Test
    void badBudgetsAndShapesAreNamed() {
        CliRun size = CliRun.of("plan", "--shape", "llama3-8b", "--max-memory", "0=lots");
        assertEquals(2, size.exitCode());
        assertTrue(size.err().contains("'lots' is not a size"), size.err());
        CliRun shape = CliRun.of("plan", "--shape", "gpt-5");
        assertEquals(2, shape.exitCode());
        assertTrue(shape.err().contains("unknown shape 'gpt-5'"), shape.err());
    }
}
