package ai.convoy.runtime.generate;

import ai.convoy.kernels.KvCache;
import ai.convoy.kernels.TokenBatch;
import ai.convoy.runtime.ConvoyException;
import ai.convoy.runtime.model.HeadOutput;
import ai.convoy.runtime.model.ModelConfig;
import ai.convoy.runtime.model.Transformer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Prefills a set of prompts in one batch, then decodes all live sequences together, one token each per step,
 * until each stops on a stop token, its token budget or the model's context.
 */
public final class Generator {
    private final Transformer model;
    private final int context;

    public enum FinishReason { STOP_TOKEN, MAX_NEW_TOKENS, CONTEXT_FULL, CANCELLED }

    /** @param promptLogits whether the listener receives the logits of every prompt position */
    public record Request(int[] prompt, SamplingParams params, boolean promptLogits) {
        public Request(int[] prompt, SamplingParams params) {
            this(prompt, params, false);
        }
    }

    public record Result(int[] tokens, FinishReason reason, int promptTokens) {
    }

    /** Receives output as it is produced; {@code sequence} is the request's index. */
    public interface Listener {
        default void promptLogits(int sequence, float[][] logits) {
        }

        void token(int sequence, int token);

        default void finished(int sequence, Result result) {
        }
    }

    public Generator(Transformer model) {
        this(model, model.config().maxPositions());
    }

    /** A generator whose sequences end at {@code context} tokens, prompt and output, within the model's own context. */
    public Generator(Transformer model, int context) {
        this.model = model;
        this.context = Math.min(context, model.config().maxPositions());
    }

    public ModelConfig config() {
        return model.config();
    }

    private static final class Sequence {
        final int index;
        final int slot;
        final SequenceState state;

        Sequence(int index, int slot, SequenceState state) {
            this.index = index;
            this.slot = slot;
            this.state = state;
        }

        Result result() {
            return new Result(state.generatedTokens(), state.finished(), state.promptLength());
        }
    }

    /** Checks a prompt against the model before any work: ids inside the vocabulary, length inside the context. */
    public static void validate(ModelConfig config, int[] prompt) {
        problem(config, prompt).ifPresent(p -> {
            throw ConvoyException.in(config.source(), p);
        });
    }

    /** What is wrong with the prompt for this model, if anything, in a phrase that does not name a file. */
    public static java.util.Optional<String> problem(ModelConfig config, int[] prompt) {
        if (prompt.length == 0) {
            return java.util.Optional.of("the prompt is empty: give at least one token");
        }
        for (int id : prompt) {
            if (id < 0 || id >= config.vocabSize()) {
                return java.util.Optional.of("token id " + id + " is outside the vocabulary (vocab_size " + config.vocabSize()
                        + ", valid ids 0.." + (config.vocabSize() - 1) + ")");
            }
        }
        if (prompt.length > config.maxPositions()) {
            return java.util.Optional.of("the prompt has " + prompt.length + " tokens, longer than the context of "
                    + config.maxPositions() + " (max_position_embeddings, or --max-context)");
        }
        return java.util.Optional.empty();
    }

    public List<Result> generate(List<Request> requests, Listener listener) {
        requests.forEach(r -> validate(model.config().withMaxPositions(context), r.prompt()));
        try (KvCache cache = model.newKvCache()) {
            List<Sequence> sequences = new ArrayList<>();
            for (int i = 0; i < requests.size(); i++) {
                Request r = requests.get(i);
                SequenceState state = new SequenceState(r.prompt(), r.params(), context);
                sequences.add(new Sequence(i, cache.openSlot(state.capacity()), state));
            }
            prefill(requests, sequences, cache, listener);
            List<Sequence> live = new ArrayList<>(sequences.stream().filter(s -> s.state.finished() == null).toList());
            while (!live.isEmpty()) {
                decodeStep(live, cache, listener);
                live.removeIf(s -> s.state.finished() != null);
            }
            return sequences.stream().map(Sequence::result).toList();
        }
    }

    private void prefill(List<Request> requests, List<Sequence> sequences, KvCache cache, Listener listener) {
        int rows = sequences.stream().mapToInt(s -> s.state.promptLength()).sum();
        int[] tokens = new int[rows];
        int[] slots = new int[rows];
        int[] positions = new int[rows];
        List<Integer> logitRows = new ArrayList<>();
        List<Boolean> picks = new ArrayList<>();
        int row = 0;
        for (Sequence s : sequences) {
            boolean all = requests.get(s.index).promptLogits();
            int promptLength = s.state.promptLength();
            for (int p = 0; p < promptLength; p++, row++) {
                tokens[row] = s.state.token(p);
                slots[row] = s.slot;
                positions[row] = p;
                if (all || p == promptLength - 1) {
                    logitRows.add(row);
                    picks.add(!all && s.state.picksArgmax());
                }
            }
        }
        boolean[] devicePicks = new boolean[picks.size()];
        for (int i = 0; i < devicePicks.length; i++) {
            devicePicks[i] = picks.get(i);
        }
        HeadOutput head = model.forward(tokens, new TokenBatch(slots, positions), cache,
                logitRows.stream().mapToInt(Integer::intValue).toArray(), devicePicks);
        int next = 0;
        for (Sequence s : sequences) {
            if (requests.get(s.index).promptLogits()) {
                listener.promptLogits(s.index, Arrays.copyOfRange(head.logits(), next, next + s.state.promptLength()));
                next += s.state.promptLength();
            } else {
                next += 1;
            }
            accept(s, head, next - 1, cache, listener);
        }
    }

    private void decodeStep(List<Sequence> live, KvCache cache, Listener listener) {
        int n = live.size();
        int[] tokens = new int[n];
        int[] slots = new int[n];
        int[] positions = new int[n];
        int[] logitRows = new int[n];
        boolean[] devicePicks = new boolean[n];
        for (int i = 0; i < n; i++) {
            Sequence s = live.get(i);
            tokens[i] = s.state.lastToken();
            slots[i] = s.slot;
            positions[i] = s.state.length() - 1;
            logitRows[i] = i;
            devicePicks[i] = s.state.picksArgmax();
        }
        HeadOutput head = model.forward(tokens, new TokenBatch(slots, positions), cache, logitRows, devicePicks);
        for (int i = 0; i < n; i++) {
            accept(live.get(i), head, i, cache, listener);
        }
    }

    /** Takes the sequence's next token from row {@code row} of the head's output; finishes it when a rule says so. */
    private void accept(Sequence s, HeadOutput head, int row, KvCache cache, Listener listener) {
        int token = s.state.accept(head, row);
        if (token >= 0) {
            listener.token(s.index, token);
        }
        if (s.state.finished() != null) {
            cache.closeSlot(s.slot);
            listener.finished(s.index, s.result());
        }
    }
}
