package ai.convoy.actors.cli;

import ai.convoy.runtime.tokenizer.ChatTemplate;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** A conversation on the terminal: each user line joins the history, and the assistant's answer streams back and joins it too. */
final class ChatSession {
    /** Answers a conversation: the model in this process or on a server. */
    interface Assistant {
        /** Prints the answer to the conversation so far as it comes, and returns its whole text. */
        String answer(List<ChatTemplate.Message> history, PrintWriter out);
    }

    private final Assistant assistant;
    private final PrintWriter out;
    private final PrintWriter err;
    private final List<ChatTemplate.Message> history = new ArrayList<>();

    ChatSession(Assistant assistant, String system, PrintWriter out, PrintWriter err) {
        this.assistant = assistant;
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
            String answer = assistant.answer(List.copyOf(history), out);
            out.println();
            out.flush();
            history.add(new ChatTemplate.Message("assistant", answer));
        }
    }
}
