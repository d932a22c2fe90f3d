package ai.convoy.runtime.generate;

import ai.convoy.kernels.TokenPick;
import ai.convoy.runtime.model.HeadOutput;
import java.util.Arrays;

/**
 * One sequence being generated: its tokens so far, its sampler, and the rules that end it (a stop token, its token
 * budget, the model's context). Shared by every loop that generates, local or pipelined.
 */
public final class SequenceState {
    private final int promptLength;
    private final int context;
    private final SamplingParams params;
    private final Sampler sampler;
    private int[] tokens;
    private int length;
    private Generator.FinishReason finished;

    public SequenceState(int[] prompt, SamplingParams params, int context) {
        this.promptLength = prompt.length;
        this.context = context;
        this.params = params;
        this.sampler = new Sampler(params);
        this.tokens = Arrays.copyOf(prompt, Math.max(prompt.length + 1, Math.min(context, prompt.length + params.maxNewTokens()) + 1));
        this.length = prompt.length;
    }

    /** KV positions this sequence can need: its prompt and budget, within the context. */
    public int capacity() {
        return (int) Math.min(context, (long) promptLength + params.maxNewTokens());
    }

    public int promptLength() {
        return promptLength;
    }

    public int length() {
        return length;
    }

    public int generated() {
        return length - promptLength;
    }

    public int lastToken() {
        return tokens[length - 1];
    }

    public int token(int i) {
        return tokens[i];
    }

    public Generator.FinishReason finished() {
        return finished;
    }

    public SamplingParams params() {
        return params;
    }

    /** Ends the sequence now (a cancel). */
    public void finish(Generator.FinishReason reason) {
        finished = reason;
    }

    /** How the next token is to be chosen; each generated token is the sequence's next draw. */
    public TokenPick nextPick() {
        return sampler.pick(generated(), tokens, length);
    }

    /**
     * Takes row {@code row} of the head's output for the next position: the token picked where the logits were, or one
     * picked here from its logits by {@link #nextPick()}; returns it, or -1 when the budget was already spent.
     * Afterwards {@link #finished()} says whether the sequence has ended.
     */
    public int accept(HeadOutput head, int row) {
        if (generated() >= params.maxNewTokens()) {
            finished = Generator.FinishReason.MAX_NEW_TOKENS;
            return -1;
        }
        int token = head.picked(row) ? head.tokens()[row] : sampler.next(generated(), head.logits()[row], tokens, length);
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, length * 2);
        }
        tokens[length++] = token;
        if (params.stopTokenIds().contains(token)) {
            finished = Generator.FinishReason.STOP_TOKEN;
        } else if (generated() >= params.maxNewTokens()) {
            finished = Generator.FinishReason.MAX_NEW_TOKENS;
        } else if (length >= context) {
            finished = Generator.FinishReason.CONTEXT_FULL;
        }
        return token;
    }

    public int[] generatedTokens() {
        return Arrays.copyOfRange(tokens, promptLength, length);
    }
}
