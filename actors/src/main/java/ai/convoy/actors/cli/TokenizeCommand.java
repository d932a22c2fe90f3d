package ai.convoy.actors.cli;

import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.formats.Utf8Text;
import ai.convoy.runtime.model.EmbeddedModel;
import ai.convoy.runtime.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = "Reads lines from standard input and prints each line's token ids, comma-separated (or, with --decode, reads id lines and prints text).")
final class TokenizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "DIR", description = "Directory with tokenizer.json (default: the small model built into Convoy).")
    Path model;

    @Option(names = "--decode", description = "Read comma-separated ids and print their text.")
    boolean decode;

    @Option(names = "--add-special-tokens", description = "Add the tokenizer's special tokens (such as BOS) when encoding.")
    boolean addSpecialTokens;

    @Option(names = "--skip-special-tokens", description = "Leave special tokens out when decoding.")
    boolean skipSpecialTokens;

    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() {
        Tokenizer tokenizer = Tokenizer.load(model != null ? model : EmbeddedModel.directory());
        PrintWriter out = spec.commandLine().getOut();
        Utf8Text.LineReader in = new Utf8Text.LineReader(System.in, "standard input");
        for (String line = in.next(); line != null; line = in.next()) {
            if (decode) {
                out.println(tokenizer.decode(parseIds(line, in.lineNumber(), tokenizer.size()), skipSpecialTokens));
            } else {
                out.println(Arrays.stream(tokenizer.encode(line, addSpecialTokens)).mapToObj(Integer::toString).collect(Collectors.joining(",")));
            }
            out.flush();
        }
        return 0;
    }

    private static int[] parseIds(String line, long lineNumber, int size) {
        if (line.isBlank()) {
            return new int[0];
        }
        try {
            int[] ids = Arrays.stream(line.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
            for (int id : ids) {
                if (id < 0 || id >= size) {
                    throw new ConvoyException("standard input line " + lineNumber + ": id " + id + " is outside the vocabulary of " + size);
                }
            }
            return ids;
        } catch (NumberFormatException e) {
            throw new ConvoyException("standard input line " + lineNumber + ": '" + line + "' is not a comma-separated list of ids");
        }
    }
}
