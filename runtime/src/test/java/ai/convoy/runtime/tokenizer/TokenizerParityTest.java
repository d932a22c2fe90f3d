package ai.convoy.runtime.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every corpus text, for each tokenizer, against Hugging Face tokenizers (ops/tokenizers/make_fixtures.py). */
class TokenizerParityTest {
    static final Path ROOT = Path.of(System.getProperty("convoy.tokenizers.dir", "src/test/resources/tokenizers"));
    private static final Map<String, Tokenizer> LOADED = new ConcurrentHashMap<>();

    static Tokenizer tokenizer(String name) {
        return LOADED.computeIfAbsent(name, n -> Tokenizer.load(ROOT.resolve(n)));
    }

    static JsonNode reference() {
        try {
            // another corpus's reference can be checked the same way with -Dconvoy.tokenizers.reference=FILE
            Path file = Path.of(System.getProperty("convoy.tokenizers.reference", ROOT.resolve("reference.json").toString()));
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        reference().path("cases").properties().forEach(e -> {
            int i = 0;
            for (JsonNode c : e.getValue()) {
                out.add(Arguments.of(e.getKey(), i++, c));
            }
        });
        return out;
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    @ParameterizedTest(name = "{0} #{1}")
    @MethodSource("cases")
    void encodesAndDecodesLikeTheReference(String name, int index, JsonNode c) {
        Tokenizer t = tokenizer(name);
        String text = c.get("text").asText();
        int[] ids = t.encode(text, false);
        assertArrayEquals(ints(c.get("ids")), ids, () -> name + " encode " + text);
        assertArrayEquals(ints(c.get("ids_with_special")), t.encode(text, true), () -> name + " encode with special tokens " + text);
        assertEquals(c.get("decoded").asText(), t.decode(ids, false), () -> name + " decode " + text);
        assertEquals(c.get("decoded_skip_special").asText(), t.decode(ids, true), () -> name + " decode skipping special " + text);
        if (c.get("roundtrip").asBoolean()) {
            assertEquals(text, t.decode(ids, false));
        }
    }

    @ParameterizedTest(name = "{0} #{1}")
    @MethodSource("cases")
    void streamingGivesTheSameTextWithoutBrokenCharacters(String name, int index, JsonNode c) {
        Tokenizer t = tokenizer(name);
        StreamDecoder stream = t.streamDecoder(false);
        StringBuilder streamed = new StringBuilder();
        for (int id : ints(c.get("ids"))) {
            String piece = stream.next(id);
            if (!piece.isEmpty()) {
                // never a lone surrogate or a replacement character the full decode does not have
                assertEquals(piece, new String(piece.codePoints().toArray(), 0, piece.codePointCount(0, piece.length())));
            }
            streamed.append(piece);
        }
        String whole = c.get("decoded").asText();
        if (!whole.endsWith("\uFFFD")) {
            assertEquals(whole, streamed.toString(), () -> name + " stream " + c.get("text").asText());
        }
    }
}
