package ai.convoy.actors.cli;

import ai.convoy.runtime.generate.Generator;
import ai.convoy.runtime.generate.SamplingParams;
import ai.convoy.runtime.tokenizer.ChatTemplate;
import ai.convoy.runtime.tokenizer.Tokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** A conversation on the terminal: each user line is added to the history, rendered, and answered by streaming. */
final class ChatSession {
    private final Generator generator;
    private final Tokenizer tokenizer;
    private final ChatTemplate template;
    private final SamplingParams params;
    private final PrintWriter out;
    private final PrintWriter err;
    private final List<ChatTemplate.Message> history = new ArrayList<>();

    ChatSession(Generator generator, Tokenizer tokenizer, ChatTemplate template, SamplingParams params, String system,
                PrintWriter out, PrintWriter err) {
        this.generator = generator;
        this.tokenizer = tokenizer;
        this.template = template;
        this.params = params;
        this.out = out;
        this.err = err;
        if (system != null) {
            history.add(new ChatTemplate.Message("system", system));
        }
    }

    void run() {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        err.println("convoy: chat: type a message and press enter; /exit or end of input to stop");
        err.flush();
        while (true) {
            out.print("> ");
            out.flush();
            String line;
            try {
                line = in.readLine();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            if (line == null || line.strip().equals("/exit")) {
                out.println();
                out.flush();
                return;
            }
            if (line.isBlank()) {
                continue;
            }
            history.add(new ChatTemplate.Message("user", line));
            int[] prompt = tokenizer.encode(template.render(history, true), false);
            Generator.validate(generator.config(), prompt);
            TokenPrinter printer = TokenPrinter.of(tokenizer, out);
            generator.generate(List.of(new Generator.Request(prompt, params)), (sequence, token) -> {
                if (!params.stopTokenIds().contains(token)) {
                    printer.print(token);
                }
            });
            out.println();
            out.flush();
            history.add(new ChatTemplate.Message("assistant", printer.text()));
        }
    }
}
