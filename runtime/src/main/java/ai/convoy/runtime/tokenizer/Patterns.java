package ai.convoy.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.regex.Pattern;

/** The patterns of tokenizer.json: a literal {"String": ...} or a regular expression {"Regex": ...}. */
final class Patterns {
    private Patterns() {
    }

    static Pattern of(JsonNode pattern) {
        if (pattern.has("String")) {
            return Pattern.compile(Pattern.quote(pattern.get("String").asText()));
        }
        if (pattern.has("Regex")) {
            // Oniguruma's \s, \w and case folding are Unicode-aware; Java's only with this flag
            return Pattern.compile(pattern.get("Regex").asText(), Pattern.UNICODE_CHARACTER_CLASS);
        }
        throw new IllegalArgumentException("pattern " + pattern + " is neither String nor Regex");
    }
}
