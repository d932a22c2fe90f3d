package ai.convoy.runtime.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/** Adds a tokenizer's special tokens around an encoded sequence (only when special tokens are asked for). */
sealed interface PostProcessor {

    int[] process(int[] ids);

    record None() implements PostProcessor {
        public int[] process(int[] ids) {
            return ids;
        }
    }

    record Sequence(List<PostProcessor> steps) implements PostProcessor {
        public int[] process(int[] ids) {
            for (PostProcessor p : steps) {
                ids = p.process(ids);
            }
            return ids;
        }
    }

    /** The single-sequence template: special token ids and the sequence, in order. */
    record Template(List<int[]> before, List<int[]> after) implements PostProcessor {
        public int[] process(int[] ids) {
            List<Integer> out = new ArrayList<>();
            before.forEach(b -> {
                for (int id : b) {
                    out.add(id);
                }
            });
            for (int id : ids) {
                out.add(id);
            }
            after.forEach(a -> {
                for (int id : a) {
                    out.add(id);
                }
            });
            return out.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    static PostProcessor fromJson(JsonNode n) {
        if (n == null || n.isNull()) {
            return new None();
        }
        String type = n.path("type").asText("");
        return switch (type) {
            case "Sequence" -> {
                List<PostProcessor> steps = new ArrayList<>();
                n.path("processors").forEach(s -> steps.add(fromJson(s)));
                yield new Sequence(steps);
            }
            case "ByteLevel" -> new None(); // it only adjusts offsets
            case "TemplateProcessing" -> template(n);
            case "BertProcessing", "RobertaProcessing" -> new Template(List.<int[]>of(new int[] {n.path("cls").get(1).asInt()}),
                    List.<int[]>of(new int[] {n.path("sep").get(1).asInt()}));
            default -> throw new IllegalArgumentException("post-processor '" + type + "' is not supported");
        };
    }

    private static Template template(JsonNode n) {
        List<int[]> before = new ArrayList<>();
        List<int[]> after = new ArrayList<>();
        boolean seenSequence = false;
        for (JsonNode piece : n.path("single")) {
            if (piece.has("Sequence")) {
                seenSequence = true;
                continue;
            }
            String id = piece.path("SpecialToken").path("id").asText();
            JsonNode ids = n.path("special_tokens").path(id).path("ids");
            int[] values = new int[ids.size()];
            for (int i = 0; i < values.length; i++) {
                values[i] = ids.get(i).asInt();
            }
            (seenSequence ? after : before).add(values);
        }
        return new Template(before, after);
    }
}
