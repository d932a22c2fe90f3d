package ai.convoy.runtime.model;

import ai.convoy.runtime.ConvoyException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashMap;
import java.util.Map;

/** The config.json of well-known models, by short name, for planning and for synthetic checkpoints. */
public final class ModelShapes {
    private static final Map<String, String> SHAPES = new LinkedHashMap<>();

    static {
        String llama3Rope = "\"rope_theta\": 500000.0, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": %s, \"low_freq_factor\": 1.0,"
                + " \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}";
        add("llama3.2-1b", "llama", 2048, 16, 32, 8, 64, 8192, 128256, 131072, true, String.format(llama3Rope, "32.0"));
        add("llama3.2-3b", "llama", 3072, 28, 24, 8, 128, 8192, 128256, 131072, true, String.format(llama3Rope, "32.0"));
        add("llama3-8b", "llama", 4096, 32, 32, 8, 128, 14336, 128256, 8192, false, "\"rope_theta\": 500000.0");
        add("llama3-70b", "llama", 8192, 80, 64, 8, 128, 28672, 128256, 8192, false, "\"rope_theta\": 500000.0");
        add("llama3.1-8b", "llama", 4096, 32, 32, 8, 128, 14336, 128256, 131072, false, String.format(llama3Rope, "8.0"));
        add("llama3.1-70b", "llama", 8192, 80, 64, 8, 128, 28672, 128256, 131072, false, String.format(llama3Rope, "8.0"));
        add("llama3.1-405b", "llama", 16384, 126, 128, 8, 128, 53248, 128256, 131072, false, String.format(llama3Rope, "8.0"));
        add("llama2-7b", "llama", 4096, 32, 32, 32, 128, 11008, 32000, 4096, false, "\"rope_theta\": 10000.0");
        add("llama2-13b", "llama", 5120, 40, 40, 40, 128, 13824, 32000, 4096, false, "\"rope_theta\": 10000.0");
        add("llama2-70b", "llama", 8192, 80, 64, 8, 128, 28672, 32000, 4096, false, "\"rope_theta\": 10000.0");
        add("mistral-7b", "mistral", 4096, 32, 32, 8, 128, 14336, 32000, 32768, false, "\"rope_theta\": 10000.0, \"sliding_window\": 4096");
        add("qwen2-7b", "qwen2", 3584, 28, 28, 4, 128, 18944, 152064, 32768, false, "\"rope_theta\": 1000000.0, \"use_sliding_window\": false");
        add("qwen2-72b", "qwen2", 8192, 80, 64, 8, 128, 29568, 152064, 32768, false, "\"rope_theta\": 1000000.0, \"use_sliding_window\": false");
    }

    private ModelShapes() {
    }

    private static void add(String name, String type, int hidden, int layers, int heads, int kvHeads, int headDim, int inter,
                            int vocab, int context, boolean tied, String rope) {
        String cls = switch (type) {
            case "llama" -> "LlamaForCausalLM";
            case "mistral" -> "MistralForCausalLM";
            default -> "Qwen2ForCausalLM";
        };
        SHAPES.put(name, String.format("{\"architectures\": [\"%s\"], \"model_type\": \"%s\", \"hidden_size\": %d,"
                + " \"num_hidden_layers\": %d, \"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"head_dim\": %d,"
                + " \"intermediate_size\": %d, \"vocab_size\": %d, \"max_position_embeddings\": %d, \"tie_word_embeddings\": %s,"
                + " \"rms_norm_eps\": 1e-05, \"hidden_act\": \"silu\", \"torch_dtype\": \"bfloat16\", \"bos_token_id\": 1,"
                + " \"eos_token_id\": 2, %s}", cls, type, hidden, layers, heads, kvHeads, headDim, inter, vocab, context, tied, rope));
    }

    public static Iterable<String> names() {
        return SHAPES.keySet();
    }

    /** The config of a named shape. */
    public static ModelConfig config(String name) {
        return ModelConfig.parse(java.nio.file.Path.of(name), configJson(name));
    }

    /** The config.json of a named shape, as a JSON tree. */
    public static ObjectNode configJson(String name) {
        String json = SHAPES.get(name);
        if (json == null) {
            throw new ConvoyException("unknown shape '" + name + "' (known: " + String.join(", ", SHAPES.keySet()) + ")");
        }
        try {
            return (ObjectNode) new ObjectMapper().readTree(json);
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
