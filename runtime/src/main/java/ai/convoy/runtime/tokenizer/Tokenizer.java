package ai.convoy.runtime.tokenizer;

import ai.convoy.runtime.ConvoyException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.zip.GZIPInputStream;

/**
 * A Hugging Face {@code tokenizer.json}: added tokens found in the text, then normalizer, pre-tokenizer and BPE
 * model on the rest; decoding runs the decoders. Matches the tokenizers library id for id.
 */
public final class Tokenizer {
    public static final String FILE = "tokenizer.json";

    private final AddedTokens added;
    private final Normalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final Bpe model;
    private final Decoder decoder;
    private final PostProcessor postProcessor;

    private Tokenizer(AddedTokens added, Normalizer normalizer, PreTokenizer preTokenizer, Bpe model, Decoder decoder,
                      PostProcessor postProcessor) {
        this.added = added;
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.model = model;
        this.decoder = decoder;
        this.postProcessor = postProcessor;
    }

    /** Whether a model directory has a tokenizer ({@code tokenizer.json}, or {@code tokenizer.json.gz}). */
    public static boolean existsIn(Path dir) {
        return Files.isRegularFile(dir.resolve(FILE)) || Files.isRegularFile(dir.resolve(FILE + ".gz"));
    }

    public static Tokenizer load(Path dir) {
        Path file = Files.isRegularFile(dir.resolve(FILE)) ? dir.resolve(FILE) : dir.resolve(FILE + ".gz");
        if (!Files.isRegularFile(file)) {
            throw ConvoyException.in(dir, "no " + FILE + " in the model directory");
        }
        JsonNode json;
        try (InputStream in = file.toString().endsWith(".gz") ? new GZIPInputStream(Files.newInputStream(file)) : Files.newInputStream(file)) {
            json = new ObjectMapper().readTree(in);
        } catch (IOException e) {
            throw ConvoyException.in(file, "cannot parse: " + e.getMessage().lines().findFirst().orElse(""));
        }
        try {
            JsonNode m = json.path("model");
            String type = m.path("type").asText("BPE");
            if (!type.equals("BPE")) {
                throw new IllegalArgumentException("model type '" + type + "' is not supported (supported: BPE)");
            }
            return new Tokenizer(new AddedTokens(json.path("added_tokens")),
                    json.path("normalizer").isObject() ? Normalizer.fromJson(json.get("normalizer")) : null,
                    json.path("pre_tokenizer").isObject() ? PreTokenizer.fromJson(json.get("pre_tokenizer")) : null,
                    new Bpe(m),
                    json.path("decoder").isObject() ? Decoder.fromJson(json.get("decoder")) : null,
                    PostProcessor.fromJson(json.get("post_processor")));
        } catch (IllegalArgumentException e) {
            throw ConvoyException.in(file, e.getMessage());
        }
    }

    public int[] encode(String text, boolean addSpecialTokens) {
        List<Integer> ids = new ArrayList<>();
        for (AddedTokens.Segment s : added.splitRaw(text)) {
            if (s.id() >= 0) {
                ids.add(s.id());
                continue;
            }
            String normalized = normalizer == null ? s.text() : normalizer.normalize(s.text());
            List<AddedTokens.Segment> parts = added.hasNormalized() ? added.splitNormalized(normalized)
                    : List.of(new AddedTokens.Segment(normalized, -1));
            for (AddedTokens.Segment part : parts) {
                if (part.id() >= 0) {
                    ids.add(part.id());
                } else if (!part.text().isEmpty()) {
                    List<String> words = preTokenizer == null ? List.of(part.text()) : preTokenizer.split(List.of(part.text()));
                    for (String w : words) {
                        for (int id : model.tokenize(w)) {
                            ids.add(id);
                        }
                    }
                }
            }
        }
        int[] out = ids.stream().mapToInt(Integer::intValue).toArray();
        return addSpecialTokens ? postProcessor.process(out) : out;
    }

    public String decode(int[] ids, boolean skipSpecialTokens) {
        return decode(ids, 0, ids.length, skipSpecialTokens);
    }

    String decode(int[] ids, int from, int to, boolean skipSpecialTokens) {
        List<String> tokens = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) {
            AddedTokens.Token t = added.byId(ids[i]);
            if (t != null) {
                if (!(skipSpecialTokens && t.special())) {
                    tokens.add(t.content());
                }
            } else {
                String token = model.token(ids[i]);
                if (token != null) {
                    tokens.add(token);
                }
            }
        }
        if (decoder == null) {
            return String.join(" ", tokens);
        }
        return String.join("", decoder.decode(tokens));
    }

    /** A decoder that returns text as tokens arrive, holding back a partial UTF-8 character until it completes. */
    public StreamDecoder streamDecoder(boolean skipSpecialTokens) {
        return new StreamDecoder(this, skipSpecialTokens);
    }

    /** The number of ids, the model's vocabulary and the added tokens together. */
    public int size() {
        return Math.max(model.size(), added.maxId() + 1);
    }

    public Optional<Integer> id(String token) {
        AddedTokens.Token t = added.byContent(token);
        return t != null ? Optional.of(t.id()) : Optional.ofNullable(model.id(token));
    }

    public boolean isSpecial(int id) {
        AddedTokens.Token t = added.byId(id);
        return t != null && t.special();
    }
}
