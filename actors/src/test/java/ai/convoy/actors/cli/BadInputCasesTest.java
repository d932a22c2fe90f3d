package ai.convoy.actors.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.convoy.runtime.ParityModels;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad input to every command, one case a row: each ends with exit status 2 and a single line on standard error that
 * names the file or the option at fault, with nothing before it and no stack trace.
 */
class BadInputCasesTest {
    @TempDir
    static Path tmp;

    /** What a case runs: the command line, and the bytes on standard input. */
    record Invocation(List<String> args, byte[] stdin) {
    }

    /** A case: prepares its files under a folder of its own and returns the invocation; the error must name each of {@code mentions}. */
    record Case(String name, Setup setup, String... mentions) {
        @Override
        public String toString() {
            return name;
        }
    }

    interface Setup {
        Invocation in(Path dir) throws IOException;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void endsInOneLineNamingTheCulprit(Case c) throws IOException {
        Path dir = Files.createTempDirectory(tmp, "case");
        Invocation inv = c.setup().in(dir);
        InputStream stdin = System.in;
        CliRun run;
        try {
            System.setIn(new ByteArrayInputStream(inv.stdin()));
            run = CliRun.of(inv.args());
        } finally {
            System.setIn(stdin);
        }
        BadInputTest.assertOneLineError(run, c.mentions());
        assertTrue(run.err().lines().count() == 1, "nothing before the error: " + run.err());
    }

    static Stream<Case> cases() {
        List<Case> cases = new ArrayList<>();
        configCases(cases);
        checkpointCases(cases);
        runOptionCases(cases);
        pipelineCases(cases);
        promptsFileCases(cases);
        planCases(cases);
        quantizeCases(cases);
        synthesizeCases(cases);
        tokenizeCases(cases);
        inspectCases(cases);
        perplexityCases(cases);
        clusterCases(cases);
        clusterPlanCases(cases);
        return cases.stream();
    }

    // ---- model folders made for the cases ----

    static Path copy(String model, Path dir) throws IOException {
        Path src = ParityModels.root().resolve(model);
        Path dst = dir.resolve(model.replace('/', '-'));
        Files.createDirectories(dst);
        try (Stream<Path> files = Files.list(src)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Files.copy(f, dst.resolve(f.getFileName()));
            }
        }
        return dst;
    }

    static Path withConfig(String model, Path dir, Consumer<ObjectNode> edit) throws IOException {
        Path m = copy(model, dir);
        ObjectMapper json = new ObjectMapper();
        ObjectNode config = (ObjectNode) json.readTree(m.resolve("config.json").toFile());
        edit.accept(config);
        json.writeValue(m.resolve("config.json").toFile(), config);
        return m;
    }

    static Invocation run(Path model, String... extra) {
        List<String> args = new ArrayList<>(List.of("run", "--model", model.toString(), "--tokens", "1,2,3", "--max-new-tokens", "2",
                "--temperature", "0"));
        args.addAll(List.of(extra));
        return new Invocation(args, new byte[0]);
    }

    static Invocation args(String... args) {
        return new Invocation(List.of(args), new byte[0]);
    }

    static Case configCase(String name, String model, Consumer<ObjectNode> edit, String... mentions) {
        List<String> all = new ArrayList<>(List.of("config.json"));
        all.addAll(List.of(mentions));
        return new Case("config: " + name, dir -> run(withConfig(model, dir, edit)), all.toArray(String[]::new));
    }

    /** A safetensors file written byte by byte: header length, header, data. */
    static Path safetensors(Path dir, String header, int dataBytes) throws IOException {
        Path m = dir.resolve("model");
        Files.createDirectories(m);
        Files.copy(ParityModels.root().resolve("qwen2-bias/config.json"), m.resolve("config.json"));
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Files.write(m.resolve("model.safetensors"), b.array());
        return m;
    }

    /** The Qwen2 parity model with NaN in its final norm's scales. */
    static Path nanWeights(Path dir) throws IOException {
        Path src = ParityModels.root().resolve("qwen2-bias");
        Path dst = Files.createDirectories(dir.resolve("nan"));
        Files.copy(src.resolve("config.json"), dst.resolve("config.json"));
        try (var c = ai.convoy.runtime.formats.Checkpoint.open(src);
             var w = new ai.convoy.runtime.formats.SafetensorsWriter(dst, Long.MAX_VALUE)) {
            for (var t : c.tensors().values()) {
                var data = t.data();
                if (t.name().equals("model.norm.weight")) {
                    byte[] bytes = new byte[(int) data.byteSize()];
                    java.util.Arrays.fill(bytes, (byte) 0xff);
                    data = java.lang.foreign.MemorySegment.ofArray(bytes);
                }
                w.add(t.name(), t.dtype(), t.shape(), data);
            }
            w.finish();
        }
        return dst;
    }

    static Path withIndex(Path dir, String index) throws IOException {
        Path m = copy("llama-gqa-rope3-sharded", dir);
        Files.writeString(m.resolve("model.safetensors.index.json"), index);
        return m;
    }

    // ---- the cases ----

    static void configCases(List<Case> cases) {
        String q = "qwen2-bias";
        String llama = "llama-gqa-rope3-sharded";
        cases.add(configCase("fractional hidden_size", q, c -> c.put("hidden_size", 64.5), "hidden_size"));
        cases.add(configCase("negative hidden_size", q, c -> c.put("hidden_size", -64), "hidden_size"));
        cases.add(configCase("hidden_size as text", q, c -> c.put("hidden_size", "sixty-four"), "hidden_size"));
        cases.add(configCase("fractional intermediate_size", q, c -> c.put("intermediate_size", 1.5), "intermediate_size"));
        cases.add(configCase("zero layers", q, c -> c.put("num_hidden_layers", 0), "num_hidden_layers"));
        cases.add(configCase("2^31-1 layers", q, c -> c.put("num_hidden_layers", Integer.MAX_VALUE), "num_hidden_layers"));
        cases.add(configCase("no vocab_size", q, c -> c.remove("vocab_size"), "vocab_size"));
        cases.add(configCase("zero max_position_embeddings", q, c -> c.put("max_position_embeddings", 0), "max_position_embeddings"));
        cases.add(configCase("negative sliding_window", "mistral-swa", c -> c.put("sliding_window", -5), "sliding_window"));
        cases.add(configCase("sliding_window as text", "mistral-swa", c -> c.put("sliding_window", "wide"), "sliding_window"));
        cases.add(configCase("fractional sliding_window", "mistral-swa", c -> c.put("sliding_window", 4.5), "sliding_window"));
        cases.add(configCase("negative rms_norm_eps", q, c -> c.put("rms_norm_eps", -1e-6), "rms_norm_eps"));
        cases.add(configCase("zero rms_norm_eps", q, c -> c.put("rms_norm_eps", 0), "rms_norm_eps"));
        cases.add(configCase("rms_norm_eps as text", q, c -> c.put("rms_norm_eps", "small"), "rms_norm_eps"));
        cases.add(configCase("rope factor 0", llama, c -> ((ObjectNode) c.get("rope_parameters")).put("factor", 0), "factor"));
        cases.add(configCase("negative rope factor", llama, c -> ((ObjectNode) c.get("rope_parameters")).put("factor", -4), "factor"));
        cases.add(configCase("rope_theta 0", llama, c -> ((ObjectNode) c.get("rope_parameters")).put("rope_theta", 0), "rope_theta"));
        cases.add(configCase("unknown rope type", llama, c -> ((ObjectNode) c.get("rope_parameters")).put("rope_type", "yarn"), "yarn"));
        cases.add(configCase("unknown model_type", q, c -> c.put("model_type", "gpt2"), "gpt2"));
        cases.add(configCase("gelu activation", q, c -> c.put("hidden_act", "gelu"), "hidden_act"));
        cases.add(configCase("kv heads not dividing heads", q, c -> c.put("num_key_value_heads", 3), "num_key_value_heads"));
        cases.add(configCase("odd head_dim", llama, c -> c.put("head_dim", 33), "head_dim"));
        cases.add(configCase("sizes overflowing 64 bits", q, c -> {
            c.put("hidden_size", 1 << 30);
            c.put("intermediate_size", 1 << 30);
            c.put("num_attention_heads", 1);
            c.put("num_key_value_heads", 1);
        }, "64-bit"));
        cases.add(configCase("unknown quant_method", q, c -> c.putObject("quantization_config").put("quant_method", "gptq"), "gptq"));
        cases.add(configCase("bnb_4bit_quant_type nf5", "qwen2-bias/nf4",
                c -> ((ObjectNode) c.get("quantization_config")).put("bnb_4bit_quant_type", "nf5"), "nf5"));
        cases.add(new Case("config: not JSON", dir -> {
            Path m = copy(q, dir);
            Files.writeString(m.resolve("config.json"), "{ this is not json");
            return run(m);
        }, "config.json", "cannot parse"));
        cases.add(new Case("config: a JSON array", dir -> {
            Path m = copy(q, dir);
            Files.writeString(m.resolve("config.json"), "[1, 2]");
            return run(m);
        }, "config.json", "not a JSON object"));
        cases.add(new Case("config: missing", dir -> {
            Path m = copy(q, dir);
            Files.delete(m.resolve("config.json"));
            return run(m);
        }, "config.json", "no such file"));
    }

    static void checkpointCases(List<Case> cases) {
        cases.add(new Case("safetensors: bytes after the last tensor", dir -> {
            Path m = copy("qwen2-bias", dir);
            Files.write(m.resolve("model.safetensors"), new byte[16], java.nio.file.StandardOpenOption.APPEND);
            return run(m);
        }, "model.safetensors", "after the last tensor"));
        cases.add(new Case("safetensors: truncated", dir -> {
            Path m = copy("qwen2-bias", dir);
            try (RandomAccessFile f = new RandomAccessFile(m.resolve("model.safetensors").toFile(), "rw")) {
                f.setLength(f.length() - 100);
            }
            return run(m);
        }, "model.safetensors", "truncated"));
        cases.add(new Case("safetensors: shape of 2^62 elements", dir -> run(safetensors(dir,
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],\"data_offsets\":[0,4]}}", 4)), "model.safetensors", "64-bit"));
        cases.add(new Case("safetensors: negative dimension", dir -> run(safetensors(dir,
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4)), "model.safetensors", "dimension"));
        cases.add(new Case("safetensors: fractional dimension", dir -> run(safetensors(dir,
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4)), "model.safetensors", "dimension"));
        cases.add(new Case("safetensors: unsupported dtype", dir -> run(safetensors(dir,
                "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1)), "model.safetensors", "F8_E4M3"));
        cases.add(new Case("safetensors: overlapping tensors", dir -> run(safetensors(dir,
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8)),
                "model.safetensors", "overlap"));
        cases.add(new Case("safetensors: offsets that do not hold the shape", dir -> run(safetensors(dir,
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4)), "model.safetensors", "offsets"));
        cases.add(new Case("safetensors: header not JSON", dir -> run(safetensors(dir, "{not json", 0)), "model.safetensors", "header"));
        cases.add(new Case("safetensors: header length past the end", dir -> {
            Path m = copy("qwen2-bias", dir);
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40);
            Files.write(m.resolve("model.safetensors"), b.array());
            return run(m);
        }, "model.safetensors"));
        cases.add(new Case("safetensors: none in the folder", dir -> {
            Path m = copy("qwen2-bias", dir);
            Files.delete(m.resolve("model.safetensors"));
            return run(m);
        }, "model.safetensors"));
        cases.add(new Case("index: junk", dir -> run(withIndex(dir, "{{{ junk\n\nmore junk")), "model.safetensors.index.json", "cannot parse"));
        cases.add(new Case("index: no weight_map", dir -> run(withIndex(dir, "{\"metadata\": {}}")), "model.safetensors.index.json", "weight_map"));
        cases.add(new Case("index: shard outside the folder", dir -> run(withIndex(dir,
                "{\"weight_map\": {\"model.embed_tokens.weight\": \"../../etc/passwd\"}}")), "model.safetensors.index.json", "file name"));
        cases.add(new Case("index: absolute shard path", dir -> run(withIndex(dir,
                "{\"weight_map\": {\"model.embed_tokens.weight\": \"/etc/hostname\"}}")), "model.safetensors.index.json", "file name"));
        cases.add(new Case("index: shard name not a string", dir -> run(withIndex(dir,
                "{\"weight_map\": {\"model.embed_tokens.weight\": 7}}")), "model.safetensors.index.json", "shard"));
        cases.add(new Case("index: missing shard", dir -> {
            Path m = copy("llama-gqa-rope3-sharded", dir);
            Files.delete(m.resolve("model-00003-of-00010.safetensors"));
            return run(m);
        }, "model.safetensors.index.json", "model-00003-of-00010.safetensors"));
        cases.add(new Case("model directory missing", dir -> run(dir.resolve("nothing-here")), "nothing-here"));
        cases.add(new Case("model path is a file", dir -> {
            Path f = Files.writeString(dir.resolve("a-file"), "x");
            return run(f);
        }, "a-file"));
    }

    static void runOptionCases(List<Case> cases) {
        String q = "qwen2-bias";
        String[][] options = {
            {"temperature -1", "--temperature", "-1"}, {"top-p 2", "--top-p", "2"}, {"top-p 0", "--top-p", "0"},
            {"top-k -1", "--top-k", "-1"}, {"repetition-penalty 0", "--repetition-penalty", "0"},
            {"max-new-tokens -5", "--max-new-tokens", "-5"}, {"quantization nf5", "--quantization", "nf5"},
            {"blocksize 7", "--quantization", "nf4", "--blocksize", "7"}, {"compute-dtype fp8", "--compute-dtype", "fp8"},
            {"double-quant maybe", "--double-quant", "maybe"}, {"seed abc", "--seed", "abc"},
            {"stop-token-ids abc", "--stop-token-ids", "abc"}, {"unknown option", "--frobnicate"},
            {"temperature NaN", "--temperature", "NaN"},
        };
        for (String[] o : options) {
            String option = o[1];
            String[] extra = java.util.Arrays.copyOfRange(o, 1, o.length);
            cases.add(new Case("run: " + o[0], dir -> run(copy(q, dir), extra), option.equals("--quantization") && o.length > 3 ? "blocksize"
                    : option.replace("--double-quant", "double-quant")));
        }
        cases.add(new Case("run: the built-in model on a GPU this machine lacks", dir -> args("run", "--devices", "cuda:7"), "--devices"));
        cases.add(new Case("run: the built-in model with a bad temperature", dir -> args("run", "--temperature", "-2"), "--temperature"));
        cases.add(new Case("run: token id past the vocabulary", dir -> args("run", "--model", copy(q, dir).toString(), "--tokens", "99999"),
                "99999", "config.json"));
        cases.add(new Case("run: negative token id", dir -> args("run", "--model", copy(q, dir).toString(), "--tokens", "-1"), "-1"));
        cases.add(new Case("run: token list not numbers", dir -> args("run", "--model", copy(q, dir).toString(), "--tokens", "a,b"), "--tokens"));
        cases.add(new Case("run: prompt longer than the context", dir -> {
            String ids = String.join(",", java.util.Collections.nCopies(300, "5"));
            return args("run", "--model", copy(q, dir).toString(), "--tokens", ids);
        }, "context"));
        cases.add(new Case("run: prompt longer than --max-context", dir -> args("run", "--model", copy(q, dir).toString(), "--tokens",
                "1,2,3,4,5", "--max-context", "4"), "--max-context"));
        cases.add(new Case("run: --max-context past the model's", dir -> args("run", "--model", copy(q, dir).toString(), "--tokens",
                "1,2", "--max-context", "100000"), "--max-context"));
        cases.add(new Case("run: --prompt without a tokenizer", dir -> args("run", "--model", copy(q, dir).toString(), "--prompt", "hi"),
                "tokenizer.json"));
        cases.add(new Case("run: --chat without a template", dir -> args("run", "--model", copy(q, dir).toString(), "--chat"), "tokenizer"));
        cases.add(new Case("run: --logits-out into a missing folder", dir -> run(copy(q, dir), "--logits-out",
                dir.resolve("no/such/folder/x.npy").toString()), "x.npy"));
    }

    static void pipelineCases(List<Case> cases) {
        String q = "qwen2-bias";
        Object[][] options = {
            {"devices not a device", new String[] {"--devices", "tpu:0"}, "--devices"},
            {"devices cuda GPU missing", new String[] {"--devices", "cuda:7"}, "--devices"},
            {"devices size without unit", new String[] {"--devices", "sim:0=64"}, "no unit"},
            {"devices named twice", new String[] {"--devices", "sim:0=64MiB,sim:0=64MiB"}, "sim:0"},
            {"cpu named twice", new String[] {"--devices", "cpu,cpu"}, "cpu"},
            {"max-memory without unit", new String[] {"--max-memory", "cpu=64"}, "no unit"},
            {"max-memory under 1 MiB", new String[] {"--max-memory", "cpu=64KiB"}, "1 MiB"},
            {"max-memory for a device left out", new String[] {"--devices", "sim:0=24GiB", "--max-memory", "0=20GiB,cpu=64GiB"}, "cpu"},
            {"max-memory for a GPU this machine lacks", new String[] {"--max-memory", "0=1GiB,cpu=4GiB"}, "cuda:0"},
            {"max-memory unknown key", new String[] {"--max-memory", "gpu=1GiB"}, "--max-memory"},
            {"max-memory key twice", new String[] {"--max-memory", "cpu=1GiB,cpu=2GiB"}, "twice"},
            {"max-memory not a size", new String[] {"--max-memory", "cpu=lots"}, "--max-memory"},
            {"strategy unknown", new String[] {"--devices", "cpu", "--strategy", "fastest"}, "--strategy"},
            {"kv-dtype int4", new String[] {"--devices", "cpu", "--kv-dtype", "int4"}, "--kv-dtype"},
            {"batch-size negative", new String[] {"--devices", "cpu", "--batch-size", "-1"}, "--batch-size"},
            {"too small a GPU", new String[] {"--devices", "sim:0=1MiB"}, "does not fit"},
        };
        for (Object[] o : options) {
            cases.add(new Case("pipeline: " + o[0], dir -> run(copy(q, dir), (String[]) o[1]), (String) o[2]));
        }
        cases.add(new Case("pipeline: strategy map not JSON", dir -> {
            Path map = Files.writeString(dir.resolve("map.json"), "not json");
            return run(copy(q, dir), "--devices", "cpu", "--strategy", map.toString());
        }, "map.json"));
        cases.add(new Case("pipeline: --logits-out with several prompts", dir -> {
            Path prompts = Files.writeString(dir.resolve("prompts.txt"), "1,2\n3,4\n");
            return args("run", "--model", copy(q, dir).toString(), "--prompts-file", prompts.toString(), "--logits-out",
                    dir.resolve("x.npy").toString());
        }, "--logits-out"));
    }

    static void promptsFileCases(List<Case> cases) {
        String q = "qwen2-bias";
        cases.add(new Case("prompts-file: missing", dir -> args("run", "--model", copy(q, dir).toString(), "--prompts-file",
                dir.resolve("absent.txt").toString()), "absent.txt"));
        cases.add(new Case("prompts-file: invalid UTF-8", dir -> {
            Path f = dir.resolve("prompts.txt");
            Files.write(f, new byte[] {'1', ',', '2', '\n', '3', (byte) 0xff, '\n'});
            return args("run", "--model", copy(q, dir).toString(), "--prompts-file", f.toString());
        }, "prompts.txt", "line 2", "UTF-8", "byte offset 5"));
        cases.add(new Case("prompts-file: id past the vocabulary", dir -> {
            Path f = Files.writeString(dir.resolve("prompts.txt"), "1,2\n\n3,99999\n");
            return args("run", "--model", copy(q, dir).toString(), "--prompts-file", f.toString());
        }, "prompts.txt", "line 3", "99999"));
        cases.add(new Case("prompts-file: only blank lines", dir -> {
            Path f = Files.writeString(dir.resolve("prompts.txt"), "\n  \n");
            return args("run", "--model", copy(q, dir).toString(), "--prompts-file", f.toString());
        }, "prompts.txt", "no prompts"));
        cases.add(new Case("prompts-file: words without a tokenizer", dir -> {
            Path f = Files.writeString(dir.resolve("prompts.txt"), "1,2\nhello there\n");
            return args("run", "--model", copy(q, dir).toString(), "--prompts-file", f.toString());
        }, "prompts.txt", "line 2"));
    }

    static void clusterCases(List<Case> cases) {
        String member = "    { name = \"node-a\", host = \"127.0.0.1\", port = 25521 }\n";
        cases.add(new Case("node: no cluster config", dir -> args("node", "--devices", "sim:0=64MiB"), "--cluster-config"));
        cases.add(new Case("node: cluster config missing", dir -> args("node", "--cluster-config", dir.resolve("c.conf").toString(), "--member",
                "node-a"), "c.conf"));
        cases.add(new Case("node: no --member", dir -> args("node", "--cluster-config", clusterConfig(dir, member)), "--member"));
        cases.add(new Case("serve: negative --rejoin-timeout", dir -> args("serve", "--rejoin-timeout", "-1"), "--rejoin-timeout"));
        cases.add(new Case("serve: no --member", dir -> args("serve", "--cluster-config", clusterConfig(dir, member)), "--member"));
        cases.add(new Case("node: member not in the config", dir -> args("node", "--cluster-config", clusterConfig(dir, member), "--member",
                "node-z"), "c.conf", "node-z"));
        cases.add(new Case("node: no members", dir -> args("node", "--cluster-config", clusterConfig(dir, ""), "--member", "node-a"),
                "c.conf", "members"));
        cases.add(new Case("node: member named twice", dir -> args("node", "--cluster-config", clusterConfig(dir, member + member), "--member",
                "node-a"), "c.conf", "node-a"));
        cases.add(new Case("node: member name with a space", dir -> args("node", "--cluster-config",
                clusterConfig(dir, member.replace("node-a", "node a")), "--member", "node a"), "c.conf", "node a"));
        cases.add(new Case("node: port not a number", dir -> args("node", "--cluster-config",
                clusterConfig(dir, member.replace("25521", "\"high\"")), "--member", "node-a"), "c.conf", "port"));
        cases.add(new Case("node: a GPU the config gives it is not on this machine", dir -> args("node", "--cluster-config",
                clusterConfig(dir, member.replace(" }", ", devices = \"cuda:7\", max-memory = \"7=20GiB\" }")), "--member", "node-a"),
                "node-a/cuda:7", "not on this machine"));
        cases.add(new Case("node: TLS files missing (the two-host example as it ships)", dir -> {
            Path f = dir.resolve("cluster-two-hosts-tls.conf");
            Files.copy(Path.of(System.getProperty("user.dir")).getParent().resolve("configs/cluster-two-hosts-tls.conf"), f);
            return args("node", "--cluster-config", f.toString(), "--member", "node-a", "--devices", "sim:0=64MiB");
        }, "cluster-two-hosts-tls.conf", "tls.key-file"));
    }

    static void clusterPlanCases(List<Case> cases) {
        String member = "    { name = \"node-a\", host = \"127.0.0.1\", port = 25521 }\n";
        cases.add(new Case("plan: cluster member without devices", dir -> args("plan", "--shape", "llama3-8b", "--cluster-config",
                clusterConfig(dir, member)), "c.conf", "node-a", "devices"));
        cases.add(new Case("plan: cluster member's devices unknown", dir -> args("plan", "--shape", "llama3-8b", "--cluster-config",
                clusterConfig(dir, member.replace(" }", ", devices = \"tpu:0\" }"))), "c.conf", "tpu:0"));
        cases.add(new Case("plan: --devices beside --cluster-config", dir -> args("plan", "--shape", "llama3-8b", "--devices", "cpu",
                "--cluster-config", clusterConfig(dir, member.replace(" }", ", devices = \"sim:0=24GiB\" }"))), "--cluster-config", "--devices"));
        cases.add(new Case("plan: cluster too small", dir -> args("plan", "--shape", "llama3-70b", "--cluster-config",
                clusterConfig(dir, member.replace(" }", ", devices = \"sim:0=24GiB\" }"))), "does not fit"));
    }

    private static String clusterConfig(Path dir, String members) throws IOException {
        Path f = dir.resolve("c.conf");
        Files.writeString(f, "convoy.cluster {\n  members = [\n" + members + "  ]\n}\n");
        return f.toString();
    }

    static void planCases(List<Case> cases) {
        cases.add(new Case("plan: unknown shape", dir -> args("plan", "--shape", "llama9-1t"), "llama9-1t"));
        cases.add(new Case("plan: config file missing", dir -> args("plan", "--config", dir.resolve("config.json").toString()), "config.json"));
        cases.add(new Case("plan: hidden_size 2^30", dir -> {
            ObjectNode c = (ObjectNode) new ObjectMapper().readTree(ParityModels.root().resolve("qwen2-bias/config.json").toFile());
            c.put("hidden_size", 1 << 30);
            c.put("num_attention_heads", 1);
            c.put("num_key_value_heads", 1);
            Path f = dir.resolve("config.json");
            new ObjectMapper().writeValue(f.toFile(), c);
            return args("plan", "--config", f.toString(), "--devices", "cpu");
        }, "config.json"));
        cases.add(new Case("plan: 2^31-1 layers", dir -> {
            ObjectNode c = (ObjectNode) new ObjectMapper().readTree(ParityModels.root().resolve("qwen2-bias/config.json").toFile());
            c.put("num_hidden_layers", Integer.MAX_VALUE);
            Path f = dir.resolve("config.json");
            new ObjectMapper().writeValue(f.toFile(), c);
            return args("plan", "--config", f.toString(), "--devices", "cpu");
        }, "num_hidden_layers"));
        cases.add(new Case("plan: budget dropped by --devices", dir -> args("plan", "--shape", "llama3-70b", "--max-memory", "0=20GiB,cpu=64GiB",
                "--devices", "sim:0=24GiB"), "--max-memory", "cpu"));
        cases.add(new Case("plan: model too big for the devices", dir -> args("plan", "--shape", "llama3-70b", "--devices", "sim:0=24GiB"),
                "does not fit"));
        cases.add(new Case("plan: kv-dtype unknown", dir -> args("plan", "--shape", "llama3-8b", "--devices", "cpu", "--kv-dtype", "e5m2"),
                "--kv-dtype"));
        cases.add(new Case("plan: quantization unknown", dir -> args("plan", "--shape", "llama3-8b", "--quantization", "int3"),
                "--quantization"));
    }

    static void quantizeCases(List<Case> cases) {
        String q = "qwen2-bias";
        cases.add(new Case("quantize: output not empty", dir -> {
            Path out = Files.createDirectories(dir.resolve("out"));
            Files.writeString(out.resolve("keep.txt"), "mine");
            return args("quantize", "--model", copy(q, dir).toString(), "--out", out.toString());
        }, "out", "not empty"));
        cases.add(new Case("quantize: output is the input", dir -> {
            Path m = copy(q, dir);
            return args("quantize", "--model", m.toString(), "--out", m.toString());
        }, "input directory"));
        cases.add(new Case("quantize: already quantized", dir -> args("quantize", "--model", copy("qwen2-bias/nf4", dir).toString(), "--out",
                dir.resolve("out").toString()), "config.json", "already quantized"));
        cases.add(new Case("quantize: quantization none", dir -> args("quantize", "--model", copy(q, dir).toString(), "--out",
                dir.resolve("out").toString(), "--quantization", "none"), "--quantization"));
        cases.add(new Case("quantize: vocab_size that the embeddings do not have", dir -> {
            Path m = withConfig(q, dir, c -> c.put("vocab_size", 2048));
            return args("quantize", "--model", m.toString(), "--out", dir.resolve("out").toString());
        }, "model.safetensors", "embed_tokens"));
        cases.add(new Case("quantize: intermediate_size that the layers do not have", dir -> {
            Path m = withConfig(q, dir, c -> c.put("intermediate_size", 96));
            return args("quantize", "--model", m.toString(), "--out", dir.resolve("out").toString());
        }, "model.safetensors", "mlp"));
        cases.add(new Case("quantize: shard size without unit", dir -> args("quantize", "--model", copy(q, dir).toString(), "--out",
                dir.resolve("out").toString(), "--max-shard-size", "5"), "--max-shard-size"));
        cases.add(new Case("quantize: model missing", dir -> args("quantize", "--model", dir.resolve("absent").toString(), "--out",
                dir.resolve("out").toString()), "absent"));
        cases.add(new Case("quantize: output is a file", dir -> {
            Path out = Files.writeString(dir.resolve("out"), "a file");
            return args("quantize", "--model", copy(q, dir).toString(), "--out", out.toString());
        }, "out"));
    }

    static void synthesizeCases(List<Case> cases) {
        cases.add(new Case("synthesize: output not empty", dir -> {
            Path out = Files.createDirectories(dir.resolve("out"));
            Files.writeString(out.resolve("config.json"), "{}");
            return args("synthesize", "--shape", "llama2-7b", "--out", out.toString());
        }, "out", "not empty"));
        cases.add(new Case("synthesize: unknown shape", dir -> args("synthesize", "--shape", "gpt5", "--out", dir.resolve("o").toString()),
                "gpt5"));
        cases.add(new Case("synthesize: shard size under 1 MiB", dir -> args("synthesize", "--shape", "llama2-7b", "--out",
                dir.resolve("o").toString(), "--max-shard-size", "10KB"), "--max-shard-size"));
    }

    static void tokenizeCases(List<Case> cases) {
        cases.add(new Case("tokenize: invalid UTF-8 on standard input", dir -> new Invocation(List.of("tokenize", "--model",
                TestTokenizers.bytesModel(dir).toString()), new byte[] {'o', 'k', '\n', 'a', 'b', (byte) 0xc3, '(', '\n'}),
                "standard input", "line 2", "UTF-8", "byte offset 5"));
        cases.add(new Case("tokenize: id past the vocabulary", dir -> new Invocation(List.of("tokenize", "--model",
                TestTokenizers.bytesModel(dir).toString(), "--decode"), "1,2,100000\n".getBytes(StandardCharsets.UTF_8)), "line 1", "100000"));
        cases.add(new Case("tokenize: ids that are not numbers", dir -> new Invocation(List.of("tokenize", "--model",
                TestTokenizers.bytesModel(dir).toString(), "--decode"), "1,x\n".getBytes(StandardCharsets.UTF_8)), "line 1"));
        cases.add(new Case("tokenize: no tokenizer.json", dir -> args("tokenize", "--model", copy("qwen2-bias", dir).toString()),
                "tokenizer.json"));
        cases.add(new Case("tokenize: tokenizer.json not JSON", dir -> {
            Path m = TestTokenizers.bytesModel(dir);
            Files.writeString(m.resolve("tokenizer.json"), "nope");
            return args("tokenize", "--model", m.toString());
        }, "tokenizer.json"));
    }

    static void inspectCases(List<Case> cases) {
        cases.add(new Case("inspect: model missing", dir -> args("inspect", "--model", dir.resolve("absent").toString()), "absent"));
        cases.add(new Case("inspect: truncated safetensors", dir -> {
            Path m = copy("qwen2-bias", dir);
            try (RandomAccessFile f = new RandomAccessFile(m.resolve("model.safetensors").toFile(), "rw")) {
                f.setLength(f.length() - 100);
            }
            return args("inspect", "--model", m.toString());
        }, "model.safetensors"));
        cases.add(new Case("inspect: unknown model_type", dir -> args("inspect", "--model",
                withConfig("qwen2-bias", dir, c -> c.put("model_type", "bert")).toString()), "config.json", "bert"));
    }

    static void perplexityCases(List<Case> cases) {
        cases.add(new Case("perplexity: text missing", dir -> args("perplexity", "--model", TestTokenizers.bytesModel(dir).toString(),
                "--text", dir.resolve("absent.txt").toString()), "absent.txt"));
        cases.add(new Case("perplexity: text not UTF-8", dir -> {
            Path f = dir.resolve("text.txt");
            Files.write(f, new byte[] {'a', '\n', 'b', (byte) 0xfe});
            return args("perplexity", "--model", TestTokenizers.bytesModel(dir).toString(), "--text", f.toString());
        }, "text.txt", "line 2", "UTF-8"));
        String[][] windows = {
            {"context 1", "--context", "1", "--context"}, {"stride 0", "--stride", "0", "--stride"},
            {"stride beyond the context", "--context", "16", "--stride", "32", "--stride"},
            {"context beyond the model's", "--context", "100000", "--context"},
            {"quantization unknown", "--quantization", "nf3", "--quantization"},
            {"devices unknown", "--devices", "abacus", "--devices"},
        };
        for (String[] w : windows) {
            cases.add(new Case("perplexity: " + w[0], dir -> {
                Path f = Files.writeString(dir.resolve("text.txt"), "Some words to score, more than a few of them.\n");
                List<String> a = new ArrayList<>(List.of("perplexity", "--model", TestTokenizers.bytesModel(dir).toString(), "--text", f.toString()));
                a.addAll(List.of(w).subList(1, w.length - 1));
                return new Invocation(a, new byte[0]);
            }, w[w.length - 1]));
        }
        cases.add(new Case("perplexity: model without a tokenizer", dir -> {
            Path f = Files.writeString(dir.resolve("text.txt"), "words\n");
            return args("perplexity", "--model", copy("qwen2-bias", dir).toString(), "--text", f.toString());
        }, "tokenizer.json"));
        cases.add(new Case("perplexity: empty text", dir -> {
            Path f = Files.writeString(dir.resolve("text.txt"), "");
            return args("perplexity", "--model", TestTokenizers.bytesModel(dir).toString(), "--text", f.toString());
        }, "token"));
        cases.add(new Case("perplexity: no --text", dir -> args("perplexity", "--model", TestTokenizers.bytesModel(dir).toString()), "--text"));
    }

    /** Broken weights show only when the model runs: the job stops with the reason as its last line, never a token drawn from NaN. */
    @ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"0", "0.8", "0 --devices sim:0=64MiB", "0.8 --devices sim:0=64MiB"})
    void nanWeightsStopTheJob(String temperatureAndWhere) throws IOException {
        Path dir = Files.createTempDirectory(tmp, "nan");
        List<String> a = new ArrayList<>(List.of("run", "--model", nanWeights(dir).toString(), "--tokens", "1,2,3", "--max-new-tokens", "2",
                "--temperature"));
        a.addAll(List.of(temperatureAndWhere.split(" ")));
        CliRun run = CliRun.of(a);
        assertEquals(2, run.exitCode(), run.err());
        List<String> lines = run.err().lines().toList();
        assertTrue(lines.getLast().startsWith("convoy: error: ") && lines.getLast().contains("not finite"), run.err());
        assertEquals("", run.out().strip(), "no tokens: " + run.out());
    }

    @org.junit.jupiter.api.Test
    void coversAtLeastAHundredCases() {
        assertTrue(cases().count() >= 100, "cases: " + cases().count());
        assertEquals(cases().count(), cases().map(Case::name).distinct().count(), "case names are distinct");
    }
}
