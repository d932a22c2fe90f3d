package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.ParityModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** convoy run through the actor pipeline on simulated GPUs. */
class PipelineRunTest {
    static final String MODEL = ParityModels.named("llama-gqa-rope3-sharded").dir().toString();

    @Test
    void theSameIdsAsTheLocalEngineAndThePlanFirst() {
        List<String> common = List.of("--model", MODEL, "--tokens", "233,1020,798,845", "--max-new-tokens", "12", "--temperature", "0", "--print-ids");
        CliRun local = CliRun.of(concat(List.of("run"), common));
        CliRun piped = CliRun.of(concat(List.of("run", "--devices", "sim:0=64MiB,sim:1=64MiB,sim:2=64MiB", "--strategy", "sequential",
                "--max-memory", "0=3MiB,1=3MiB,2=64MiB"), common));
        assertEquals(0, piped.exitCode(), piped.err());
        assertEquals(local.out(), piped.out());
        assertTrue(piped.err().contains("stage  device"), "the plan is printed first: " + piped.err());
        // sim:0 and sim:1 take the layers; the head does not fit beside them and runs on sim:2 alone
        assertTrue(piped.err().contains("sim:1") && piped.err().contains("lm_head on sim:2"), piped.err());
    }

    @Test
    void aPromptsFileRunsOneJobPerLineAndReports(@TempDir Path tmp) throws IOException {
        Path prompts = tmp.resolve("prompts.txt");
        Files.writeString(prompts, "1,2,3\n\n5,6,7,8,9\n100\n");
        CliRun run = CliRun.of("run", "--model", MODEL, "--devices", "sim:0=64MiB,sim:1=64MiB", "--prompts-file", prompts.toString(),
                "--max-new-tokens", "4", "--temperature", "0", "--stats");
        assertEquals(0, run.exitCode(), run.err());
        assertEquals(3, run.out().lines().filter(l -> l.startsWith("--- job ")).count(), run.out());
        assertTrue(run.err().matches("(?s).*3 jobs, 12 tokens generated in .* tokens/s in all.*"), run.err());
        assertTrue(run.err().contains("stage-1 on sim:1: computing"), run.err());
        Files.writeString(prompts, "1,2,x\n");
        CliRun bad = CliRun.of("run", "--model", MODEL, "--devices", "sim:0=64MiB", "--prompts-file", prompts.toString());
        assertEquals(2, bad.exitCode());
        assertTrue(bad.err().contains("line 1"), bad.err());
    }

    @Test
    void jobsAreNumberedByTheirLineAndTheHeadStageHasItsStats(@TempDir Path tmp) throws IOException {
        Path prompts = tmp.resolve("prompts.txt");
        Files.writeString(prompts, "1,2,3\n\n5,6,7\n");
        CliRun run = CliRun.of("run", "--model", MODEL, "--devices", "sim:0=64MiB,sim:1=64MiB,sim:2=64MiB", "--strategy", "sequential",
                "--max-memory", "0=3MiB,1=3MiB,2=64MiB", "--prompts-file", prompts.toString(), "--max-new-tokens", "2", "--temperature", "0",
                "--stats");
        assertEquals(0, run.exitCode(), run.err());
        assertEquals(List.of("--- job 1", "--- job 3"), run.out().lines().filter(l -> l.startsWith("--- job ")).map(l -> l.substring(0, 9)).toList());
        // sim:0 and sim:1 hold the layers, sim:2 the head alone: three stages, each with its own line
        assertTrue(run.err().contains("loaded 3 stages"), run.err());
        assertTrue(run.err().contains("stage-2 on sim:2: computing"), run.err());
    }

    @Test
    void promptLogitsComeThroughThePipelineAsTheyDoLocally(@TempDir Path tmp) {
        List<String> common = List.of("--model", MODEL, "--tokens", "233,1020,798,845", "--max-new-tokens", "3", "--temperature", "0.7",
                "--seed", "5");
        Path local = tmp.resolve("local.npy");
        Path piped = tmp.resolve("piped.npy");
        CliRun a = CliRun.of(concat(concat(List.of("run"), common), List.of("--logits-out", local.toString())));
        CliRun b = CliRun.of(concat(concat(List.of("run", "--devices", "sim:0=64MiB,sim:1=64MiB"), common), List.of("--logits-out", piped.toString())));
        assertEquals(0, a.exitCode(), a.err());
        assertEquals(0, b.exitCode(), b.err());
        var x = ai.convoy.runtime.formats.Npy.readFloat32(local);
        var y = ai.convoy.runtime.formats.Npy.readFloat32(piped);
        assertEquals(4, y.rows());
        assertEquals(x.cols(), y.cols());
        assertTrue(ParityModels.relativeL2(x.data(), y.data()) < 1e-6, "the same logits");
    }

    @Test
    void maxContextEndsJobsLocallyAndThroughThePipeline() {
        for (List<String> where : List.of(List.<String>of(), List.of("--devices", "sim:0=64MiB"))) {
            CliRun run = CliRun.of(concat(concat(List.of("run"), where), List.of("--model", MODEL, "--tokens", "1,2,3", "--max-context", "6",
                    "--max-new-tokens", "20", "--temperature", "0", "--print-ids")));
            assertEquals(0, run.exitCode(), run.err());
            assertEquals(3, run.out().strip().split(",").length, "6 positions in all: " + run.out());
        }
    }

    @Test
    void batchSizeZeroDetectsTheFastestThatFits(@TempDir Path tmp) throws IOException {
        Path prompts = tmp.resolve("prompts.txt");
        Files.writeString(prompts, "1,2,3\n4,5\n");
        CliRun run = CliRun.of("run", "--model", MODEL, "--devices", "sim:0=8MiB,sim:1=8MiB", "--max-batch-size", "4", "--max-context", "64",
                "--batch-size", "0", "--prompts-file", prompts.toString(), "--max-new-tokens", "3", "--temperature", "0");
        assertEquals(0, run.exitCode(), run.err());
        for (int b : new int[] {1, 2, 4}) {
            assertTrue(run.err().contains("batch size " + b + ": "), run.err());
        }
        assertTrue(run.err().matches("(?s).*batch size [124] chosen.*"), run.err());
        assertEquals(2, run.out().lines().filter(l -> l.startsWith("--- job ")).count());
    }

    private static List<String> concat(List<String> a, List<String> b) {
        return java.util.stream.Stream.concat(a.stream(), b.stream()).toList();
    }
}
