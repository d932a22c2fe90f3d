package ai.convoy.actors.cli;

import ai.convoy.runtime.tokenizer.StreamDecoder;
import ai.convoy.runtime.tokenizer.Tokenizer;
import java.io.PrintWriter;

/** Streams generated tokens to a terminal: as text through the tokenizer when there is one, else as ids. */
interface TokenPrinter {
    void print(int token);

    /** Text of everything printed since this printer was made (empty when printing ids). */
    String text();

    static TokenPrinter of(Tokenizer tokenizer, PrintWriter out) {
        if (tokenizer == null) {
            return new TokenPrinter() {
                @Override
                public void print(int token) {
                    out.print(token);
                    out.print(' ');
                    out.flush();
                }

                @Override
                public String text() {
                    return "";
                }
            };
        }
        StreamDecoder decoder = tokenizer.streamDecoder(true);
        StringBuilder all = new StringBuilder();
        return new TokenPrinter() {
            @Override
            public void print(int token) {
                String piece = decoder.next(token);
                all.append(piece);
                out.print(piece);
                out.flush();
            }

            @Override
            public String text() {
                return all.toString();
            }
        };
    }
}
