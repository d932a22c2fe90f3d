package ai.convoy.runtime.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.ConvoyException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ModelConfigTest {
    private static final String BASE = """
            "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4, "num_attention_heads": 8,
            "vocab_size": 100, "max_position_embeddings": 512, "rms_norm_eps": 1e-5""";

    private static ModelConfig parse(String json) throws Exception {
        return ModelConfig.parse(Path.of("config.json"), new ObjectMapper().readTree(json));
    }

    @Test
    void transformers4And5KeyStylesReadTheSame() throws Exception {
        ModelConfig v4 = parse("{\"model_type\": \"llama\", " + BASE + ", \"torch_dtype\": \"float16\", \"rope_theta\": 500000.0,"
                + " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0,"
                + " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}");
        ModelConfig v5 = parse("{\"model_type\": \"llama\", " + BASE + ", \"dtype\": \"float16\", \"rope_parameters\":"
                + " {\"rope_type\": \"llama3\", \"rope_theta\": 500000.0, \"factor\": 8.0, \"low_freq_factor\": 1.0,"
                + " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}}");
        assertEquals(v4.rope(), v5.rope());
        assertEquals("float16", v4.dtype());
        assertEquals("float16", v5.dtype());
        assertEquals(new Rope("llama3", 500000.0, 8.0, 1.0, 4.0, 8192), v5.rope());
    }

    @Test
    void olderRopeScalingKeyTypeIsAccepted() throws Exception {
        ModelConfig c = parse("{\"model_type\": \"llama\", " + BASE + ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}}");
        assertEquals("linear", c.rope().type());
        float[] unscaled = Rope.unscaled(10000).inverseFrequencies(8);
        float[] scaled = c.rope().inverseFrequencies(8);
        for (int i = 0; i < 4; i++) {
            assertEquals(unscaled[i] / 2, scaled[i], 1e-9);
        }
    }

    @Test
    void defaultsForOptionalFields() throws Exception {
        ModelConfig c = parse("{\"architectures\": [\"MistralForCausalLM\"], " + BASE + ", \"eos_token_id\": [2, 7]}");
        assertEquals(Architecture.MISTRAL, c.architecture());
        assertEquals(8, c.kvHeads());
        assertEquals(8, c.headDim());
        assertEquals(10000.0, c.rope().theta());
        assertEquals(List.of(2, 7), c.eosTokenIds());
        assertEquals(-1, c.bosTokenId());
    }

    @Test
    void explicitHeadDimWins() throws Exception {
        assertEquals(32, parse("{\"model_type\": \"llama\", " + BASE + ", \"head_dim\": 32}").headDim());
    }

    @Test
    void slidingWindowsFollowEachFamily() throws Exception {
        assertArrayEquals(new int[] {16, 16, 16, 16},
                parse("{\"model_type\": \"mistral\", " + BASE + ", \"sliding_window\": 16}").slidingWindows());
        assertArrayEquals(new int[] {0, 0, 0, 0},
                parse("{\"model_type\": \"qwen2\", " + BASE + ", \"sliding_window\": 16, \"use_sliding_window\": false}").slidingWindows());
        assertArrayEquals(new int[] {0, 0, 16, 16}, parse("{\"model_type\": \"qwen2\", " + BASE
                + ", \"sliding_window\": 16, \"use_sliding_window\": true, \"max_window_layers\": 2}").slidingWindows());
        assertArrayEquals(new int[] {16, 0, 16, 0}, parse("{\"model_type\": \"qwen2\", " + BASE + ", \"sliding_window\": 16,"
                + " \"use_sliding_window\": true, \"layer_types\": [\"sliding_attention\", \"full_attention\","
                + " \"sliding_attention\", \"full_attention\"]}").slidingWindows());
        assertArrayEquals(new int[] {0, 0, 0, 0},
                parse("{\"model_type\": \"llama\", " + BASE + ", \"sliding_window\": 16}").slidingWindows());
    }

    @Test
    void unsupportedInputIsNamed() {
        assertMessage("{\"model_type\": \"gpt2\", " + BASE + "}", "gpt2");
        assertMessage("{\"model_type\": \"llama\", " + BASE + ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}", "yarn");
        assertMessage("{\"model_type\": \"llama\", " + BASE + ", \"hidden_act\": \"gelu\"}", "gelu");
        assertMessage("{\"model_type\": \"llama\", " + BASE + ", \"num_key_value_heads\": 3}", "num_key_value_heads");
        assertMessage("{\"model_type\": \"llama\", \"hidden_size\": 64}", "missing");
        assertMessage("{\"model_type\": \"llama\", " + BASE.replace("\"vocab_size\": 100", "\"vocab_size\": -4") + "}", "vocab_size");
    }

    private static void assertMessage(String json, String mention) {
        ConvoyException e = assertThrows(ConvoyException.class, () -> parse(json));
        assertTrue(e.getMessage().startsWith("config.json: ") && e.getMessage().contains(mention), e.getMessage());
    }

    @Test
    void llama3ScalingKeepsHighFrequenciesAndSlowsLowOnes() {
        Rope rope = new Rope("llama3", 10000.0, 4.0, 1.0, 4.0, 32);
        float[] base = Rope.unscaled(10000.0).inverseFrequencies(32);
        float[] scaled = rope.inverseFrequencies(32);
        for (int i = 0; i < base.length; i++) {
            double wavelen = 2 * Math.PI / base[i];
            if (wavelen < 8) {
                assertEquals(base[i], scaled[i]);
            } else if (wavelen > 32) {
                assertEquals(base[i] / 4, scaled[i], 1e-9);
            } else {
                assertTrue(scaled[i] < base[i] && scaled[i] > base[i] / 4, "blend at " + i);
            }
        }
    }
}
