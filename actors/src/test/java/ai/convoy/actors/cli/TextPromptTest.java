package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.formats.Npy;
import ai.convoy.runtime.model.SyntheticCheckpoint;
import ai.convoy.runtime.tokenizer.Tokenizer;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --prompt, --chat and convoy tokenize on tiny random models whose vocabularies are real tokenizers'. */
class TextPromptTest {
    static final Path TOKENIZERS = Path.of(System.getProperty("convoy.tokenizers.dir", "../runtime/src/test/resources/tokenizers"));

    @TempDir
    static Path tmp;
    static Path llama3;

    /** A random 1-layer model with the vocabulary of a tokenizer, and that tokenizer beside it. */
    static Path tinyModelWith(String tokenizer, int vocab) throws IOException {
        ObjectNode config = (ObjectNode) new ObjectMapper().readTree("""
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 16, "intermediate_size": 32,
                 "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 256,
                 "tie_word_embeddings": true, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "bos_token_id": 128000,
                 "eos_token_id": [128001, 128009]}""");
        config.put("vocab_size", vocab);
        Path dir = tmp.resolve(tokenizer);
        SyntheticCheckpoint.write(config, dir, 1, Long.MAX_VALUE, p -> { });
        for (String f : List.of("tokenizer.json.gz", "tokenizer_config.json")) {
            Files.copy(TOKENIZERS.resolve(tokenizer).resolve(f), dir.resolve(f));
        }
        return dir;
    }

    @BeforeAll
    static void models() throws IOException {
        llama3 = tinyModelWith("llama3_1", 128256);
    }

    @Test
    void promptTextIsEncodedWithItsSpecialTokensAndTheOutputStreamsAsText() {
        Path logits = tmp.resolve("logits.npy");
        CliRun run = CliRun.of("run", "--model", llama3.toString(), "--prompt", "Hello world, naïve café", "--max-new-tokens", "6",
                "--temperature", "0", "--print-ids", "--logits-out", logits.toString(), "--stop-token-ids", "0");
        assertEquals(0, run.exitCode(), run.err());
        Tokenizer tokenizer = Tokenizer.load(llama3);
        int[] prompt = tokenizer.encode("Hello world, naïve café", true);
        assertEquals(128000, prompt[0], "begins with <|begin_of_text|>");
        assertEquals(prompt.length, Npy.readFloat32(logits).rows());
        int[] generated = Arrays.stream(run.out().strip().split(",")).mapToInt(Integer::parseInt).toArray();
        assertEquals(6, generated.length);
        String streamed = run.err().lines().filter(l -> !l.startsWith("convoy:") && !l.startsWith("WARNING")).reduce("", (a, b) -> a + b);
        assertEquals(tokenizer.decode(generated, true).replace("\n", ""), streamed);
    }

    @Test
    void chatRendersTheTemplateAndAnswersEachLine() {
        InputStream stdin = System.in;
        try {
            System.setIn(new ByteArrayInputStream("Hi there\nAnd again\n/exit\n".getBytes(StandardCharsets.UTF_8)));
            CliRun run = CliRun.of("run", "--model", llama3.toString(), "--chat", "--system", "Be brief.", "--max-new-tokens", "4",
                    "--temperature", "0");
            assertEquals(0, run.exitCode(), run.err());
            assertEquals(3, run.out().split("> ", -1).length - 1, "a prompt for each of the two messages and for /exit: " + run.out());
        } finally {
            System.setIn(stdin);
        }
    }

    @Test
    void promptWithoutATokenizerIsAClearError() {
        CliRun run = CliRun.of("run", "--model", ai.convoy.runtime.ParityModels.named("qwen2-bias").dir().toString(), "--prompt", "hi");
        assertEquals(2, run.exitCode());
        assertTrue(run.err().contains("no tokenizer.json"), run.err());
    }

    @Test
    void tokenizeReadsLinesAndDecodesIds() {
        InputStream stdin = System.in;
        try {
            System.setIn(new ByteArrayInputStream("Hello world\n\n<|begin_of_text|>naïve 👍🏽\n".getBytes(StandardCharsets.UTF_8)));
            CliRun encode = CliRun.of("tokenize", "--model", TOKENIZERS.resolve("llama3_1").toString());
            assertEquals(0, encode.exitCode(), encode.err());
            Tokenizer t = Tokenizer.load(TOKENIZERS.resolve("llama3_1"));
            List<String> lines = encode.out().lines().toList();
            assertEquals(3, lines.size());
            assertEquals("", lines.get(1));
            assertArrayEquals(t.encode("<|begin_of_text|>naïve 👍🏽", false), Arrays.stream(lines.get(2).split(",")).mapToInt(Integer::parseInt).toArray());

            System.setIn(new ByteArrayInputStream((lines.get(2) + "\n1,x\n").getBytes(StandardCharsets.UTF_8)));
            CliRun decode = CliRun.of("tokenize", "--model", TOKENIZERS.resolve("llama3_1").toString(), "--decode");
            assertEquals("<|begin_of_text|>naïve 👍🏽", decode.out().lines().findFirst().orElseThrow());
            assertEquals(2, decode.exitCode(), "the second line is not ids");
            assertTrue(decode.err().contains("line 2"), decode.err());
        } finally {
            System.setIn(stdin);
        }
    }
}
