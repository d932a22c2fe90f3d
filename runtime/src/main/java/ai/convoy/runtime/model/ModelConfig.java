package ai.convoy.runtime.model;

import ai.convoy.runtime.ConvoyException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A model's {@code config.json}, for Llama, Mistral and Qwen2, in either key style found on the Hub:
 * transformers 4 ({@code rope_theta}, {@code rope_scaling}, {@code torch_dtype}) or transformers 5
 * ({@code rope_parameters}, {@code dtype}).
 *
 * @param slidingWindows per layer, how many latest positions each query sees; 0 for full attention
 * @param bosTokenId     the beginning-of-sequence token, or -1 when the config names none
 * @param storedQuantization how the checkpoint's weights are stored: none, or nf4, fp4, int8 (bitsandbytes)
 */
public record ModelConfig(Path source, Architecture architecture, int vocabSize, int hiddenSize,
                          int intermediateSize, int layers, int heads, int kvHeads, int headDim,
                          int maxPositions, float rmsNormEps, boolean tieWordEmbeddings, Rope rope,
                          int[] slidingWindows, String dtype, int bosTokenId, List<Integer> eosTokenIds,
                          String storedQuantization) {

    public static final String FILE = "config.json";
    /** Far beyond any released model; a larger count is a corrupt file, and would cost memory per layer to plan. */
    static final int MAX_LAYERS = 1 << 16;

    /** Reads {@code config.json} from a model directory, or the file itself. */
    public static ModelConfig read(Path dirOrFile) {
        Path file = Files.isDirectory(dirOrFile) ? dirOrFile.resolve(FILE) : dirOrFile;
        JsonNode json;
        try {
            json = new ObjectMapper().readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw ConvoyException.in(file, "no such file");
        } catch (IOException e) {
            throw ConvoyException.in(file, "cannot parse: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (json == null || !json.isObject()) {
            throw ConvoyException.in(file, "not a JSON object");
        }
        return parse(file, json);
    }

    static ModelConfig parse(Path file, JsonNode json) {
        Fields f = new Fields(file, json);
        Architecture arch = architecture(file, json);
        String act = json.path("hidden_act").asText("silu");
        if (!act.equals("silu")) {
            throw ConvoyException.in(file, "hidden_act '" + act + "' is not supported (Convoy runs silu)");
        }
        int hidden = f.positiveInt("hidden_size");
        int heads = f.positiveInt("num_attention_heads");
        int kvHeads = json.hasNonNull("num_key_value_heads") ? f.positiveInt("num_key_value_heads") : heads;
        if (heads % kvHeads != 0) {
            throw ConvoyException.in(file, "num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int headDim = json.hasNonNull("head_dim") ? f.positiveInt("head_dim") : hidden / heads;
        if (headDim % 2 != 0) {
            throw ConvoyException.in(file, "head_dim " + headDim + " is odd; rotary embeddings need an even head_dim");
        }
        int layers = f.positiveInt("num_hidden_layers");
        if (layers > MAX_LAYERS) {
            throw ConvoyException.in(file, "num_hidden_layers " + layers + " is more than Convoy runs (" + MAX_LAYERS + ")");
        }
        String dtype = json.hasNonNull("dtype") ? json.get("dtype").asText() : json.path("torch_dtype").asText("bfloat16");
        ModelConfig config = new ModelConfig(file, arch, f.positiveInt("vocab_size"), hidden, f.positiveInt("intermediate_size"),
                layers, heads, kvHeads, headDim, f.positiveInt("max_position_embeddings"),
                f.positiveFloat("rms_norm_eps", 1e-6), json.path("tie_word_embeddings").asBoolean(false),
                rope(file, json), slidingWindows(file, arch, json, layers), dtype, json.path("bos_token_id").asInt(-1),
                eosTokenIds(json.path("eos_token_id")), storedQuantization(file, json.path("quantization_config")));
        try {
            config.exactParameterCount();
        } catch (ArithmeticException e) {
            throw ConvoyException.in(file, "the sizes (hidden_size " + hidden + ", intermediate_size " + config.intermediateSize()
                    + ", num_hidden_layers " + layers + ", vocab_size " + config.vocabSize() + ") give more parameters than 64-bit sizes hold");
        }
        return config;
    }

    private static Architecture architecture(Path file, JsonNode json) {
        if (json.hasNonNull("model_type")) {
            String type = json.get("model_type").asText();
            return Architecture.ofModelType(type).orElseThrow(() -> ConvoyException.in(file,
                    "unsupported model_type '" + type + "' (supported: " + Architecture.supported() + ")"));
        }
        String cls = json.path("architectures").path(0).asText("");
        return Architecture.ofClassName(cls).orElseThrow(() -> ConvoyException.in(file,
                "no model_type, and architectures '" + cls + "' is not supported (supported: " + Architecture.supported() + ")"));
    }

    private static String storedQuantization(Path file, JsonNode q) {
        if (!q.isObject()) {
            return "none";
        }
        String method = q.path("quant_method").asText("");
        if (!method.equals("bitsandbytes")) {
            throw ConvoyException.in(file, "quantization_config quant_method '" + method + "' is not supported (supported: bitsandbytes)");
        }
        if (q.path("load_in_4bit").asBoolean(false)) {
            String storage = q.path("bnb_4bit_quant_storage").asText("uint8");
            if (!storage.equals("uint8")) {
                throw ConvoyException.in(file, "bnb_4bit_quant_storage '" + storage + "' is not supported (supported: uint8)");
            }
            String type = q.path("bnb_4bit_quant_type").asText("fp4");
            if (!type.equals("nf4") && !type.equals("fp4")) {
                throw ConvoyException.in(file, "bnb_4bit_quant_type '" + type + "' is not supported (supported: nf4, fp4)");
            }
            return type;
        }
        return q.path("load_in_8bit").asBoolean(false) ? "int8" : "none";
    }

    private static Rope rope(Path file, JsonNode json) {
        JsonNode params;
        double theta;
        if (json.path("rope_parameters").isObject()) {
            params = json.get("rope_parameters");
            theta = params.path("rope_theta").asDouble(json.path("rope_theta").asDouble(10000.0));
        } else {
            params = json.path("rope_scaling");
            theta = json.path("rope_theta").asDouble(10000.0);
        }
        String type = params.isObject() ? params.path("rope_type").asText(params.path("type").asText("default")) : "default";
        if (!(theta > 0) || Double.isInfinite(theta)) {
            throw ConvoyException.in(file, "rope_theta must be a positive number, found " + theta);
        }
        return switch (type) {
            case "default" -> Rope.unscaled(theta);
            case "linear" -> new Rope(type, theta, requiredDouble(file, params, "factor"), 1, 1, 0);
            case "llama3" -> new Rope(type, theta, requiredDouble(file, params, "factor"),
                    requiredDouble(file, params, "low_freq_factor"), requiredDouble(file, params, "high_freq_factor"),
                    (int) requiredDouble(file, params, "original_max_position_embeddings"));
            default -> throw ConvoyException.in(file, "rope scaling '" + type + "' is not supported (supported: default, linear, llama3)");
        };
    }

    /** A rope scaling parameter: a positive finite number (a factor of 0 would give infinite frequencies). */
    private static double requiredDouble(Path file, JsonNode node, String key) {
        if (!node.path(key).isNumber() || !(node.get(key).asDouble() > 0) || Double.isInfinite(node.get(key).asDouble())) {
            throw ConvoyException.in(file, "rope scaling needs a positive number for " + key + ", found " + node.path(key));
        }
        return node.get(key).asDouble();
    }

    /** Mistral windows every layer; Qwen2 only with use_sliding_window, on the layers layer_types marks. */
    private static int[] slidingWindows(Path file, Architecture arch, JsonNode json, int layers) {
        int[] windows = new int[layers];
        JsonNode windowNode = json.path("sliding_window");
        if (!windowNode.isMissingNode() && !windowNode.isNull()
                && (!windowNode.isIntegralNumber() || !windowNode.canConvertToInt() || windowNode.asInt() <= 0)) {
            throw ConvoyException.in(file, "sliding_window must be a positive integer or null, found " + windowNode);
        }
        int window = windowNode.asInt(0);
        if (window <= 0 || arch == Architecture.LLAMA) {
            return windows;
        }
        if (arch == Architecture.QWEN2 && !json.path("use_sliding_window").asBoolean(false)) {
            return windows;
        }
        JsonNode types = json.path("layer_types");
        int maxWindowLayers = json.path("max_window_layers").asInt(0);
        for (int i = 0; i < layers; i++) {
            boolean sliding;
            if (types.isArray() && types.size() == layers) {
                sliding = types.get(i).asText().equals("sliding_attention");
            } else {
                sliding = arch == Architecture.MISTRAL || i >= maxWindowLayers;
            }
            windows[i] = sliding ? window : 0;
        }
        return windows;
    }

    /** This config with a shorter context: sequences of a run limited below the model's own length. */
    public ModelConfig withMaxPositions(int positions) {
        return new ModelConfig(source, architecture, vocabSize, hiddenSize, intermediateSize, layers, heads, kvHeads, headDim, positions,
                rmsNormEps, tieWordEmbeddings, rope, slidingWindows, dtype, bosTokenId, eosTokenIds, storedQuantization);
    }

    /** A token id field that may be one id or a list of them. */
    public static List<Integer> eosTokenIds(JsonNode node) {
        List<Integer> ids = new ArrayList<>();
        if (node.isArray()) {
            node.forEach(n -> ids.add(n.asInt()));
        } else if (node.isNumber()) {
            ids.add(node.asInt());
        }
        return List.copyOf(ids);
    }

    /** Parameters as the checkpoint stores them (embeddings counted once when tied). */
    public long parameterCount() {
        return exactParameterCount();
    }

    /** As {@link #parameterCount()}; throws ArithmeticException when the count passes 64 bits. */
    private long exactParameterCount() {
        long embed = Math.multiplyExact((long) vocabSize, hiddenSize);
        long attention = Math.multiplyExact(Math.multiplyExact((long) hiddenSize, headDim), 2L * heads + 2L * kvHeads);
        long mlp = Math.multiplyExact(3L * hiddenSize, intermediateSize);
        long perLayer = Math.addExact(Math.addExact(attention, mlp), 2L * hiddenSize);
        long all = Math.addExact(Math.multiplyExact(embed, tieWordEmbeddings ? 1 : 2), Math.multiplyExact(layers, perLayer));
        // sizes in bytes are computed from it too (up to eight bytes a parameter): they must fit as well
        Math.multiplyExact(all, 8L);
        return Math.addExact(all, hiddenSize);
    }

    private record Fields(Path file, JsonNode json) {
        int positiveInt(String key) {
            JsonNode n = json.get(key);
            if (n == null || n.isNull()) {
                throw ConvoyException.in(file, "missing " + key);
            }
            if (!n.isIntegralNumber() || !n.canConvertToInt() || n.asInt() <= 0) {
                throw ConvoyException.in(file, key + " must be a positive integer, found " + n);
            }
            return n.asInt();
        }

        float positiveFloat(String key, double fallback) {
            JsonNode n = json.get(key);
            if (n == null || n.isNull()) {
                return (float) fallback;
            }
            double v = n.asDouble(Double.NaN);
            if (!n.isNumber() || !(v > 0) || !Float.isFinite((float) v)) {
                throw ConvoyException.in(file, key + " must be a positive number, found " + n);
            }
            return (float) v;
        }
    }
}
