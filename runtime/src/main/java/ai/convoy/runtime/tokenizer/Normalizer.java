package ai.convoy.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The normalizers of a tokenizer.json: text in, text out. */
sealed interface Normalizer {

    String normalize(String text);

    record Sequence(List<Normalizer> steps) implements Normalizer {
        public String normalize(String text) {
            for (Normalizer n : steps) {
                text = n.normalize(text);
            }
            return text;
        }
    }

    record Unicode(java.text.Normalizer.Form form) implements Normalizer {
        public String normalize(String text) {
            return java.text.Normalizer.normalize(text, form);
        }
    }

    /** Prepends to non-empty text only. */
    record Prepend(String prefix) implements Normalizer {
        public String normalize(String text) {
            return text.isEmpty() ? text : prefix + text;
        }
    }

    record Replace(Pattern pattern, String content) implements Normalizer {
        public String normalize(String text) {
            return pattern.matcher(text).replaceAll(Matcher.quoteReplacement(content));
        }
    }

    record Lowercase() implements Normalizer {
        public String normalize(String text) {
            return text.toLowerCase(Locale.ROOT);
        }
    }

    record Strip(boolean left, boolean right) implements Normalizer {
        public String normalize(String text) {
            return left && right ? text.strip() : left ? text.stripLeading() : right ? text.stripTrailing() : text;
        }
    }

    static Normalizer fromJson(JsonNode n) {
        String type = n.path("type").asText("");
        return switch (type) {
            case "Sequence" -> {
                List<Normalizer> steps = new ArrayList<>();
                n.path("normalizers").forEach(s -> steps.add(fromJson(s)));
                yield new Sequence(steps);
            }
            case "NFC" -> new Unicode(java.text.Normalizer.Form.NFC);
            case "NFD" -> new Unicode(java.text.Normalizer.Form.NFD);
            case "NFKC" -> new Unicode(java.text.Normalizer.Form.NFKC);
            case "NFKD" -> new Unicode(java.text.Normalizer.Form.NFKD);
            case "Prepend" -> new Prepend(n.path("prepend").asText());
            case "Replace" -> new Replace(Patterns.of(n.path("pattern")), n.path("content").asText());
            case "Lowercase" -> new Lowercase();
            case "Strip" -> new Strip(n.path("strip_left").asBoolean(true), n.path("strip_right").asBoolean(true));
            default -> throw new IllegalArgumentException("normalizer '" + type + "' is not supported");
        };
    }
}
