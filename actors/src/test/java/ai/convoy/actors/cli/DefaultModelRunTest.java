package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.ParityModels;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** convoy run with no model: the built-in model writes English, words of the corpus it was trained on. */
class DefaultModelRunTest {
    static final Pattern WORD = Pattern.compile("[A-Za-z]+(?:'[A-Za-z]+)?");
    static Set<String> corpus;

    @BeforeAll
    static void readCorpusWords() throws IOException {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(new GZIPInputStream(
                Files.newInputStream(ParityModels.root().resolveSibling("default-model").resolve("brown-words.txt.gz"))), StandardCharsets.UTF_8))) {
            corpus = r.lines().collect(Collectors.toSet());
        }
    }

    /** The share of the text's words that are words of the corpus. */
    static double corpusShare(String text, List<String> unknown) {
        Matcher m = WORD.matcher(text);
        int words = 0;
        int known = 0;
        while (m.find()) {
            words++;
            if (corpus.contains(m.group().toLowerCase(Locale.ROOT))) {
                known++;
            } else {
                unknown.add(m.group());
            }
        }
        assertTrue(words >= 20, "at least 20 words: " + text);
        return (double) known / words;
    }

    @Test
    void noOptionsContinueTheDefaultPromptInEnglish() {
        for (long seed = 1; seed <= 3; seed++) {
            CliRun run = CliRun.of("run", "--seed", Long.toString(seed), "--max-new-tokens", "80");
            assertEquals(0, run.exitCode(), run.err());
            assertTrue(run.err().contains("continuing \"It was the first time that\""), run.err());
            List<String> unknown = new java.util.ArrayList<>();
            double share = corpusShare(run.out(), unknown);
            System.out.printf("seed %d: %.0f%% corpus words; others %s%n", seed, 100 * share, unknown);
            assertTrue(share >= 0.8, share + ": " + run.out());
        }
    }

    @Test
    void planAndTokenizeTakeTheBuiltInModelToo() {
        CliRun plan = CliRun.of("plan", "--devices", "cpu");
        assertEquals(0, plan.exitCode(), plan.err());
        assertTrue(plan.out().contains("LlamaForCausalLM, 6 layers"), plan.out());
        java.io.InputStream stdin = System.in;
        try {
            System.setIn(new java.io.ByteArrayInputStream("The jury said\n".getBytes(StandardCharsets.UTF_8)));
            CliRun tokens = CliRun.of("tokenize", "--add-special-tokens");
            assertEquals(0, tokens.exitCode(), tokens.err());
            assertEquals("0,475,505,1148,557", tokens.out().strip(), "the ids transformers' tokenizer gave (reference.json)");
        } finally {
            System.setIn(stdin);
        }
    }

    @Test
    void aPromptIsContinued() {
        CliRun run = CliRun.of("run", "--prompt", "The jury said", "--seed", "11", "--max-new-tokens", "80");
        assertEquals(0, run.exitCode(), run.err());
        assertTrue(corpusShare(run.out(), new java.util.ArrayList<>()) >= 0.8, run.out());
    }

    @Test
    void perplexityOfTheHeldOutSampleThroughTheCommandLine() throws IOException {
        List<String> lines = Files.readString(ParityModels.root().resolveSibling("default-model").resolve("heldout.txt")).lines().toList();
        java.nio.file.Path sample = Files.createTempFile("heldout-sample", ".txt");
        try {
            Files.writeString(sample, String.join("\n", lines.subList(0, 40)) + "\n");
            CliRun local = CliRun.of("perplexity", "--text", sample.toString(), "--context", "512", "--stride", "256");
            CliRun staged = CliRun.of("perplexity", "--text", sample.toString(), "--context", "512", "--stride", "256", "--devices",
                    "sim:0=64MiB,sim:1=64MiB", "--strategy", "sequential", "--max-memory", "0=13MiB,1=64MiB");
            assertEquals(0, local.exitCode(), local.err());
            assertEquals(0, staged.exitCode(), staged.err());
            assertTrue(local.out().matches("perplexity [0-9.]+ over 2763 tokens .*\\R"), local.out());
            assertTrue(local.err().contains("tokens/s"), local.err());
            assertTrue(staged.err().matches("(?s).*\\n0 +sim:0 +0-2 .*\\n1 +sim:1 +3-5 .*"), "two stages: " + staged.err());
            assertEquals(local.out(), staged.out(), "the same figure over two simulated GPUs");
        } finally {
            Files.deleteIfExists(sample);
        }
    }
}
