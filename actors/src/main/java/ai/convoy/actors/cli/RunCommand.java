package ai.convoy.actors.cli;

import ai.convoy.kernels.cpu.CpuBackend;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.Npy;
import ai.convoy.runtime.generate.Generator;
import ai.convoy.runtime.generate.SamplingParams;
import ai.convoy.runtime.model.EmbeddedModel;
import ai.convoy.runtime.model.Model;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.quant.QuantizationOptions;
import ai.convoy.runtime.tokenizer.ChatPrompt;
import ai.convoy.runtime.tokenizer.ChatTemplate;
import ai.convoy.runtime.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generates tokens from a prompt and streams them as they come.")
final class RunCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @ArgGroup(exclusive = true)
    PromptOptions prompt;

    static final class PromptOptions {
        @Option(names = "--tokens", split = ",", paramLabel = "ID", description = "Prompt token ids, comma-separated.")
        int[] tokens;

        @Option(names = "--prompt", paramLabel = "TEXT", description = "Prompt text, encoded by the model's tokenizer.json with its special tokens.")
        String text;

        @Option(names = "--chat", description = "A conversation on the terminal through the model's chat template; /exit or end of input stops.")
        boolean chat;
    }

    @Option(names = "--system", paramLabel = "TEXT", description = "With --chat: a system message to start the conversation.")
    String system;

    @Mixin
    PlanOptions planOptions;

    @Option(names = "--prompts-file", paramLabel = "FILE",
            description = "One job per line (text, or comma-separated ids without a tokenizer), run concurrently through the pipeline.")
    Path promptsFile;

    @Option(names = "--stats", description = "Print each pipeline stage's share of time spent computing at the end.")
    boolean stats;

    @Option(names = "--batch-size", paramLabel = "N",
            description = "Live sequences at most, through the pipeline; 0 detects it (1, 2, 4, ... up to --max-batch-size, the fastest that fits). Default: --max-batch-size.")
    Integer batchSize;

    @Mixin
    SamplingOptions sampling;

    @Mixin
    LoadQuantization quantization;

    @Option(names = "--logits-out", paramLabel = "FILE.npy", description = "Write the logits of every prompt position as float32 [prompt_len, vocab_size].")
    Path logitsOut;

    /** What the run starts from when no prompt was given, printed once every check has passed. */
    private String startNotice;

    @Option(names = "--print-ids", description = "Print the generated ids on one line, comma-separated, on standard output (the token stream then goes to standard error).")
    boolean printIds;

    @Override
    public Integer call() {
        QuantizationOptions options = quantization.options();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (logitsOut != null && !java.nio.file.Files.isDirectory(logitsOut.toAbsolutePath().getParent())) {
            throw new ConvoyException("--logits-out: " + logitsOut + ": no such folder " + logitsOut.toAbsolutePath().getParent());
        }
        Path dir = modelOptions.directory();
        ModelConfig config = Model.readConfig(dir);
        Tokenizer tokenizer = needsTokenizer() ? loadTokenizer(dir) : Tokenizer.existsIn(dir) ? Tokenizer.load(dir) : null;
        if (planOptions.given() || promptsFile != null || stats || batchSize != null) {
            if (isChat()) {
                throw new ConvoyException("--chat runs on one device; leave out --devices, --max-memory, --strategy and --prompts-file");
            }
            ModelConfig planned = config.withMaxPositions(planOptions.plannedContext(config));
            List<NumberedPrompt> prompts = promptsFile != null ? promptsFromFile(promptsFile, tokenizer, planned)
                    : List.of(new NumberedPrompt(0, promptIds(config, tokenizer)));
            if (promptsFile == null) {
                Generator.validate(planned, prompts.getFirst().ids());
            }
            if (logitsOut != null && prompts.size() > 1) {
                throw new ConvoyException("--logits-out writes one prompt's logits; it cannot go with a --prompts-file of " + prompts.size()
                        + " prompts");
            }
            if (batchSize != null && batchSize < 0) {
                throw new ConvoyException("--batch-size must be 0 (detect) or positive, got " + batchSize);
            }
            PipelineRun.run(dir, config, options, planOptions, prompts, sampling.params(Model.eosTokenIds(dir, config)),
                    tokenizer, batchSize == null ? Integer.MAX_VALUE : batchSize, stats, printIds, logitsOut, startNotice, out, err);
            return 0;
        }
        List<Integer> eos = Model.eosTokenIds(dir, config);
        ChatPrompt chat = isChat() ? ChatPrompt.of(ChatTemplate.load(dir).orElseThrow(() -> ConvoyException.in(dir,
                "no chat template (tokenizer_config.json chat_template or chat_template.jinja); use --prompt")), tokenizer, eos) : null;
        int[] promptIds = isChat() ? null : promptIds(config, tokenizer);
        int context = planOptions.context(config);
        if (promptIds != null) {
            Generator.validate(config.withMaxPositions(context), promptIds);
        }
        SamplingParams params = sampling.params(chat != null ? chat.stopTokenIds() : eos);
        if (startNotice != null) {
            err.println(startNotice);
        }
        long loadStart = System.nanoTime();
        try (Model model = Model.open(dir, new CpuBackend(), options)) {
            reportLoad(err, model, options, (System.nanoTime() - loadStart) / 1e9);
            Generator generator = new Generator(model.transformer(), context);
            if (isChat()) {
                new ChatSession((history, printTo) -> {
                    int[] ids = chat.encode(history);
                    Generator.validate(generator.config(), ids);
                    TokenPrinter printer = TokenPrinter.of(tokenizer, printTo);
                    generator.generate(List.of(new Generator.Request(ids, params)), (sequence, token) -> {
                        if (!params.stopTokenIds().contains(token)) {
                            printer.print(token);
                        }
                    });
                    return printer.text();
                }, system, out, err).run();
                return 0;
            }
            PrintWriter stream = printIds ? err : out;
            TokenPrinter printer = TokenPrinter.of(tokenizer, stream);
            long start = System.nanoTime();
            long[] firstToken = {0};
            Generator.Result result = generator.generate(List.of(new Generator.Request(promptIds, params, logitsOut != null)),
                    new Generator.Listener() {
                        @Override
                        public void promptLogits(int sequence, float[][] logits) {
                            Npy.writeFloat32(logitsOut, logits.length, logits[0].length, Arrays.asList(logits));
                        }

                        @Override
                        public void token(int sequence, int token) {
                            if (firstToken[0] == 0) {
                                firstToken[0] = System.nanoTime();
                            }
                            printer.print(token);
                        }
                    }).getFirst();
            long end = System.nanoTime();
            stream.println();
            stream.flush();
            if (printIds) {
                out.println(Arrays.stream(result.tokens()).mapToObj(Integer::toString).collect(Collectors.joining(",")));
                out.flush();
            }
            summarize(err, promptIds.length, result, start, firstToken[0], end);
        }
        return 0;
    }

    /** A prompt of the prompts file and the line it came from, which names its job. */
    record NumberedPrompt(int line, int[] ids) {
    }

    /**
     * Each non-blank line a prompt: text through the tokenizer, or comma-separated ids when there is none. Every
     * prompt is checked against the model here, so a bad one names its line before anything is loaded.
     */
    static List<NumberedPrompt> promptsFromFile(Path file, Tokenizer tokenizer, ModelConfig config) {
        List<NumberedPrompt> prompts = new ArrayList<>();
        for (PromptsFile.Line line : PromptsFile.read(file)) {
            int[] ids = tokenizer != null ? tokenizer.encode(line.text(), true) : PromptsFile.tokenIds(file, line);
            Generator.problem(config, ids).ifPresent(p -> {
                throw ConvoyException.in(file, "line " + line.number() + ": " + p);
            });
            prompts.add(new NumberedPrompt(line.number(), ids));
        }
        return prompts;
    }

    private boolean isChat() {
        return prompt != null && prompt.chat;
    }

    private boolean needsTokenizer() {
        return prompt != null && (prompt.chat || prompt.text != null);
    }

    private static Tokenizer loadTokenizer(Path dir) {
        if (!Tokenizer.existsIn(dir)) {
            throw ConvoyException.in(dir, "no tokenizer.json in the model directory: --prompt and --chat need one (or give --tokens)");
        }
        return Tokenizer.load(dir);
    }

    private static void reportLoad(PrintWriter err, Model model, QuantizationOptions options, double seconds) {
        String stored = model.config().storedQuantization();
        String how;
        if (!stored.equals("none")) {
            how = "bitsandbytes " + stored + " checkpoint, run as stored";
            if (options.method() != QuantizationOptions.Method.NONE && !options.method().cliName().equals(stored)) {
                how += " (--quantization " + options.method().cliName() + " does not apply)";
            }
        } else {
            how = options.method() == QuantizationOptions.Method.NONE ? "unquantized" : "quantized while loading to " + options.describe();
        }
        err.printf("convoy: loaded %s in %.3f s: %s, weights %s%n", model.directory(), seconds, how,
                Units.bytes(model.transformer().weightBytes()));
        err.flush();
    }

    /** The prompt's ids; without a prompt, where generation starts, and {@link #startNotice} says so. */
    private int[] promptIds(ModelConfig config, Tokenizer tokenizer) {
        if (prompt != null && prompt.tokens != null) {
            return prompt.tokens;
        }
        if (prompt != null && prompt.text != null) {
            int[] ids = tokenizer.encode(prompt.text, true);
            if (ids.length == 0) {
                throw new ConvoyException("--prompt is empty and the tokenizer adds no special tokens to start from");
            }
            return ids;
        }
        if (modelOptions.usesEmbeddedDefault() && tokenizer != null) {
            startNotice = "convoy: no prompt given: continuing \"" + EmbeddedModel.DEFAULT_PROMPT + "\" (give one with --prompt)";
            return tokenizer.encode(EmbeddedModel.DEFAULT_PROMPT, true);
        }
        int bos = config.bosTokenId();
        if (bos < 0) {
            throw new ConvoyException("give a prompt with --tokens (the model's config.json names no bos_token_id to start from)");
        }
        startNotice = "convoy: no prompt given: starting from the beginning-of-sequence token " + bos;
        return new int[] {bos};
    }

    private static void summarize(PrintWriter err, int promptTokens, Generator.Result result, long start, long firstToken, long end) {
        int generated = result.tokens().length;
        double prefillSeconds = ((firstToken == 0 ? end : firstToken) - start) / 1e9;
        double decodeSeconds = firstToken == 0 ? 0 : (end - firstToken) / 1e9;
        String decodeRate = generated > 1 ? String.format(", %.1f tokens/s decode", (generated - 1) / decodeSeconds) : "";
        err.printf("convoy: prompt %d tokens in %.3f s; generated %d tokens%s; stopped: %s%n", promptTokens, prefillSeconds,
                generated, decodeRate, result.reason().name().toLowerCase().replace('_', ' '));
        err.flush();
    }
}
