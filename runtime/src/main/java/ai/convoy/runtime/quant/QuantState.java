package ai.convoy.runtime.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The JSON bitsandbytes keeps beside a 4-bit weight ({@code weight.quant_state.bitsandbytes__nf4}): its type,
 * blocksize, original dtype and shape, and for double quantization the nested blocksize, dtype and offset.
 * Written byte for byte as Python's {@code json.dumps} writes it.
 */
public record QuantState(FourBitCode type, int blocksize, String dtype, long[] shape, Optional<Nested> nested) {

    public record Nested(int blocksize, String dtype, float offset) {
    }

    public static final String KEY_PREFIX = "quant_state.bitsandbytes__";

    public String key() {
        return KEY_PREFIX + type.typeName();
    }

    public String toJson() {
        StringBuilder s = new StringBuilder();
        s.append("{\"quant_type\": \"").append(type.typeName()).append("\", \"blocksize\": ").append(blocksize)
                .append(", \"dtype\": \"").append(dtype).append("\", \"shape\": [")
                .append(Arrays.stream(shape).mapToObj(Long::toString).collect(Collectors.joining(", "))).append(']');
        nested.ifPresent(n -> s.append(", \"nested_blocksize\": ").append(n.blocksize()).append(", \"nested_dtype\": \"")
                .append(n.dtype()).append("\", \"nested_offset\": ").append(pythonRepr(n.offset())));
        return s.append('}').toString();
    }

    public byte[] toBytes() {
        return toJson().getBytes(StandardCharsets.UTF_8);
    }

    /** Parses and checks the JSON; problems are reported as IllegalArgumentException with what is wrong. */
    public static QuantState parse(byte[] json) {
        JsonNode n;
        try {
            n = new ObjectMapper().readTree(json);
        } catch (IOException e) {
            throw new IllegalArgumentException("quant_state is not valid JSON: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException("quant_state is not a JSON object");
        }
        FourBitCode type = FourBitCode.ofTypeName(text(n, "quant_type"));
        int blocksize = positiveInt(n, "blocksize");
        JsonNode shapeNode = n.get("shape");
        if (shapeNode == null || !shapeNode.isArray() || shapeNode.isEmpty()) {
            throw new IllegalArgumentException("quant_state has no shape list");
        }
        long[] shape = new long[shapeNode.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!shapeNode.get(i).canConvertToLong() || shapeNode.get(i).asLong() <= 0) {
                throw new IllegalArgumentException("quant_state shape " + shapeNode + " is not a list of positive integers");
            }
            shape[i] = shapeNode.get(i).asLong();
        }
        Optional<Nested> nested = Optional.empty();
        if (n.has("nested_blocksize") || n.has("nested_offset")) {
            JsonNode offset = n.get("nested_offset");
            if (offset == null || !offset.isNumber()) {
                throw new IllegalArgumentException("quant_state has nested_blocksize but no numeric nested_offset");
            }
            nested = Optional.of(new Nested(positiveInt(n, "nested_blocksize"), n.path("nested_dtype").asText("float32"),
                    offset.floatValue()));
        }
        return new QuantState(type, blocksize, text(n, "dtype"), shape, nested);
    }

    private static String text(JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.isTextual()) {
            throw new IllegalArgumentException("quant_state has no " + key);
        }
        return v.asText();
    }

    private static int positiveInt(JsonNode n, String key) {
        JsonNode v = n.get(key);
        if (v == null || !v.canConvertToInt() || v.asInt() <= 0) {
            throw new IllegalArgumentException("quant_state " + key + " must be a positive integer, found " + v);
        }
        return v.asInt();
    }

    public long elementCount() {
        return Arrays.stream(shape).reduce(1, Math::multiplyExact);
    }

    /** Python's repr of a float32 value widened to a Python float: shortest round-trip digits, 1e-05 style exponents. */
    static String pythonRepr(float value) {
        double d = value;
        if (Double.isNaN(d)) {
            return "NaN";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "Infinity" : "-Infinity";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal exact = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = exact.unscaledValue().toString();
        int exponent = digits.length() - 1 - exact.scale();
        String sign = d < 0 ? "-" : "";
        if (exponent >= -4 && exponent < 16) {
            String plain = exact.toPlainString();
            return sign + (plain.contains(".") ? plain : plain + ".0");
        }
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        return sign + mantissa + "e" + (exponent < 0 ? "-" : "+") + String.format("%02d", Math.abs(exponent));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof QuantState q && type == q.type && blocksize == q.blocksize && dtype.equals(q.dtype)
                && Arrays.equals(shape, q.shape) && nested.equals(q.nested);
    }

    @Override
    public int hashCode() {
        return toJson().hashCode();
    }
}
