package ai.convoy.actors.cli;

import ai.convoy.runtime.ParityModels;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/** Tokenizers written for tests: a byte-level vocabulary of the 256 bytes and a start token, no merges. */
final class TestTokenizers {
    static final int START = 256;

    private TestTokenizers() {
    }

    /** A copy of the Qwen2 parity model (vocabulary 1024) with the byte-level tokenizer beside it. */
    static Path bytesModel(Path dir) throws IOException {
        Path src = ParityModels.root().resolve("qwen2-bias");
        Path dst = dir.resolve("qwen2-bytes");
        Files.createDirectories(dst);
        try (Stream<Path> files = Files.list(src)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Files.copy(f, dst.resolve(f.getFileName()));
            }
        }
        Files.writeString(dst.resolve("tokenizer.json"), byteLevelJson());
        return dst;
    }

    /** GPT-2's map of bytes to printable characters, which byte-level vocabularies are written in. */
    static char[] byteChars() {
        char[] chars = new char[256];
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            chars[b] = printable ? (char) b : (char) (256 + extra++);
        }
        return chars;
    }

    static String byteLevelJson() {
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = json.createObjectNode();
        root.put("version", "1.0");
        ArrayNode added = root.putArray("added_tokens");
        added.addObject().put("id", START).put("content", "<s>").put("single_word", false).put("lstrip", false).put("rstrip", false)
                .put("normalized", false).put("special", true);
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", true);
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        post.putArray("single").addObject().putObject("SpecialToken").put("id", "<s>").put("type_id", 0);
        ((ArrayNode) post.get("single")).addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
        post.putArray("pair");
        post.putObject("special_tokens").putObject("<s>").put("id", "<s>").putArray("ids").add(START);
        ((ObjectNode) post.get("special_tokens").get("<s>")).putArray("tokens").add("<s>");
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true).put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout").putNull("unk_token").putNull("continuing_subword_prefix").putNull("end_of_word_suffix");
        model.put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        char[] chars = byteChars();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(chars[b]), b);
        }
        vocab.put("<s>", START);
        model.putArray("merges");
        return root.toString();
    }
}
