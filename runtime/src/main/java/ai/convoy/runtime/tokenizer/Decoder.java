package ai.convoy.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The decoders of a tokenizer.json: each rewrites the list of token strings on its way back to text. */
sealed interface Decoder {

    List<String> decode(List<String> tokens);

    record Sequence(List<Decoder> steps) implements Decoder {
        public List<String> decode(List<String> tokens) {
            for (Decoder d : steps) {
                tokens = d.decode(tokens);
            }
            return tokens;
        }
    }

    /** Byte-level tokens back to bytes, then to text; invalid UTF-8 becomes U+FFFD. */
    record ByteLevelDecoder() implements Decoder {
        public List<String> decode(List<String> tokens) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            for (String t : tokens) {
                byte[] b = ByteLevel.decode(t);
                bytes.writeBytes(b != null ? b : t.getBytes(StandardCharsets.UTF_8));
            }
            return List.of(new String(bytes.toByteArray(), StandardCharsets.UTF_8));
        }
    }

    record Replace(String pattern, String content) implements Decoder {
        public List<String> decode(List<String> tokens) {
            return tokens.stream().map(t -> t.replace(pattern, content)).toList();
        }
    }

    /** Runs of {@code <0xHH>} tokens become the text their bytes spell, or one U+FFFD per byte if invalid. */
    record ByteFallback() implements Decoder {
        public List<String> decode(List<String> tokens) {
            List<String> out = new ArrayList<>();
            ByteArrayOutputStream pending = new ByteArrayOutputStream();
            for (String t : tokens) {
                if (t.length() == 6 && t.startsWith("<0x") && t.endsWith(">") && isHex(t.substring(3, 5))) {
                    pending.write(Integer.parseInt(t.substring(3, 5), 16));
                    continue;
                }
                flush(pending, out);
                out.add(t);
            }
            flush(pending, out);
            return out;
        }

        private static boolean isHex(String s) {
            return s.chars().allMatch(c -> Character.digit(c, 16) >= 0);
        }

        private static void flush(ByteArrayOutputStream pending, List<String> out) {
            if (pending.size() == 0) {
                return;
            }
            try {
                out.add(StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(pending.toByteArray())).toString());
            } catch (CharacterCodingException e) {
                out.add("\uFFFD".repeat(pending.size()));
            }
            pending.reset();
        }
    }

    record Fuse() implements Decoder {
        public List<String> decode(List<String> tokens) {
            return List.of(String.join("", tokens));
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing copies of a character from each token. */
    record Strip(int content, int start, int stop) implements Decoder {
        public List<String> decode(List<String> tokens) {
            return tokens.stream().map(t -> {
                int[] cps = t.codePoints().toArray();
                int from = 0;
                while (from < Math.min(start, cps.length) && cps[from] == content) {
                    from++;
                }
                int to = cps.length;
                while (cps.length - to < stop && to > from && cps[to - 1] == content) {
                    to--;
                }
                return new String(cps, from, to - from);
            }).toList();
        }
    }

    /** The replacement character back to spaces; the first token loses its leading space unless the scheme is never. */
    record Metaspace(String replacement, String prependScheme) implements Decoder {
        public List<String> decode(List<String> tokens) {
            List<String> out = new ArrayList<>();
            for (int i = 0; i < tokens.size(); i++) {
                String t = tokens.get(i).replace(replacement, " ");
                if (i == 0 && !prependScheme.equals("never") && t.startsWith(" ")) {
                    t = t.substring(1);
                }
                out.add(t);
            }
            return out;
        }
    }

    static Decoder fromJson(JsonNode n) {
        String type = n.path("type").asText("");
        return switch (type) {
            case "Sequence" -> {
                List<Decoder> steps = new ArrayList<>();
                n.path("decoders").forEach(s -> steps.add(fromJson(s)));
                yield new Sequence(steps);
            }
            case "ByteLevel" -> new ByteLevelDecoder();
            case "Replace" -> new Replace(n.path("pattern").path("String").asText(), n.path("content").asText());
            case "ByteFallback" -> new ByteFallback();
            case "Fuse" -> new Fuse();
            case "Strip" -> new Strip(n.path("content").asText(" ").codePointAt(0), n.path("start").asInt(0), n.path("stop").asInt(0));
            case "Metaspace" -> new Metaspace(n.path("replacement").asText("\u2581"), n.path("prepend_scheme").asText(
                    n.path("add_prefix_space").asBoolean(true) ? "always" : "never"));
            default -> throw new IllegalArgumentException("decoder '" + type + "' is not supported");
        };
    }
}
